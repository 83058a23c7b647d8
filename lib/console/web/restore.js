// An in-place restore of a job's service from one snapshot: asked again, by the job's name, then followed.
import { html, useState } from '/vendor/preact-htm.js'
import { api, jobPath } from '/api.js'
import { usePolling } from '/live.js'

export function RestoreInPlace({ job, snapshot, onClose }) {
  const [typed, setTyped] = useState('')
  const [error, setError] = useState('')
  const [started, setStarted] = useState(undefined)
  const submit = async (event) => {
    event.preventDefault()
    try {
      setStarted((await api(`${jobPath(job.name)}/restore`, { method: 'POST', body: { snapshot: snapshot.id, confirm: typed } })).action)
    } catch (failure) {
      setError(failure.message)
    }
  }
  if (started) return html`<${ActionState} id=${started.id} />`
  return html`<form class="confirm" onSubmit=${submit} aria-label=${`Restore ${job.name} in place`}>
    <p>This replaces the live data of service <strong>${job.service}</strong> with snapshot <code>${snapshot.short_id}</code>
      of ${new Date(snapshot.time).toLocaleString()}. A safety snapshot of what is there now is taken first, and the service
      is stopped while its volumes are rewritten.</p>
    <label>Type ${job.name} to confirm <input value=${typed} onInput=${(event) => setTyped(event.target.value)} autocomplete="off" /></label>
    <button class="primary" type="submit" disabled=${typed !== job.name}>Restore in place</button>
    <button type="button" onClick=${onClose}>Cancel</button>
    <p role="alert" class="error">${error}</p>
  </form>`
}

/** How an action goes, read again every two seconds until it has ended. */
function ActionState({ id }) {
  const [actions] = usePolling(async () => (await api('/actions')).actions, 2000, id)
  const action = actions?.find((candidate) => candidate.id === id)
  if (!action) return html`<p role="status">Starting…</p>`
  const said = action.state === 'running' ? `Restoring since ${new Date(action.startedAt).toLocaleTimeString()}…` : `Restore ${action.state}: ${action.message}`
  return html`<p role="status" class=${action.state === 'failed' ? 'error' : ''}>${said}</p>`
}
