// A long action (a restore, a drill, a rehearsal) started from the console, followed until it ends.
import { html, useState } from '/vendor/preact-htm.js'
import { api } from '/api.js'
import { usePolling } from '/live.js'

const WHAT = { drill: 'Drill', rehearsal: 'Rehearsal', 'backup now': 'Backup', 'recover a node': 'Recovery' }

/** How an action goes, read again every two seconds while it is shown. */
export function ActionState({ id }) {
  const [actions] = usePolling(async () => (await api('/actions')).actions, 2000, id)
  const action = actions?.find((candidate) => candidate.id === id)
  if (!action) return html`<p role="status">Starting…</p>`
  const what = WHAT[action.kind] ?? 'Restore'
  const said = action.state === 'running' ? `${what} running since ${new Date(action.startedAt).toLocaleTimeString()}…` : `${what} ${action.state}: ${action.message}`
  return html`<p role="status" class=${action.state === 'failed' ? 'error' : ''}>${said}</p>`
}

/** A button that starts an action which changes no data (a drill, a rehearsal: not asked again), and how it goes. */
export function StartAction({ label, path }) {
  const [started, setStarted] = useState(undefined)
  const start = async () => {
    try {
      setStarted({ action: (await api(path, { method: 'POST' })).action })
    } catch (failure) {
      setStarted({ error: failure.message })
    }
  }
  return html`<button type="button" onClick=${start}>${label}</button>
    ${started?.action && html`<${ActionState} key=${started.action.id} id=${started.action.id} />`}
    ${started?.error && html`<p role="alert" class="error">${started.error}</p>`}`
}
