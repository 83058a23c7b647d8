// A long action (a restore, a drill) started from the console, followed until it ends.
import { html } from '/vendor/preact-htm.js'
import { api } from '/api.js'
import { usePolling } from '/live.js'

/** How an action goes, read again every two seconds while it is shown. */
export function ActionState({ id }) {
  const [actions] = usePolling(async () => (await api('/actions')).actions, 2000, id)
  const action = actions?.find((candidate) => candidate.id === id)
  if (!action) return html`<p role="status">Starting…</p>`
  const what = { drill: 'Drill', 'backup now': 'Backup', 'recover a node': 'Recovery' }[action.kind] ?? 'Restore'
  const said = action.state === 'running' ? `${what} running since ${new Date(action.startedAt).toLocaleTimeString()}…` : `${what} ${action.state}: ${action.message}`
  return html`<p role="status" class=${action.state === 'failed' ? 'error' : ''}>${said}</p>`
}
