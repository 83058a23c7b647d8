// A restore of a job's service from one snapshot, in place or onto another node: asked again, by the job's name, then followed.
import { html, useEffect, useState } from '/vendor/preact-htm.js'
import { api, jobPath } from '/api.js'
import { ActionState } from '/actions.js'

export function RestoreService({ job, snapshot, onClose }) {
  const [typed, setTyped] = useState('')
  const [error, setError] = useState('')
  const [started, setStarted] = useState(undefined)
  const [nodes, setNodes] = useState([])
  const [toNode, setToNode] = useState('')
  useEffect(() => void api('/nodes').then((answer) => setNodes(answer.nodes), () => undefined), [])
  const submit = async (event) => {
    event.preventDefault()
    try {
      setStarted((await api(`${jobPath(job.name)}/restore`, { method: 'POST', body: { snapshot: snapshot.id, confirm: typed, toNode: toNode || undefined } })).action)
    } catch (failure) {
      setError(failure.message)
    }
  }
  if (started) return html`<${ActionState} id=${started.id} />`
  return html`<form class="confirm" onSubmit=${submit} aria-label=${`Restore ${job.name}`}>
    <p>This replaces the live data of service <strong>${job.service}</strong> with snapshot <code>${snapshot.short_id}</code>
      of ${new Date(snapshot.time).toLocaleString()}. A safety snapshot of what is there now is taken first, and the service
      is stopped while its volumes are rewritten.</p>
    <label>Restore onto <select value=${toNode} onChange=${(event) => setToNode(event.target.value)}>
      <option value="">the node it runs on${job.node ? ` (${job.node})` : ''}</option>
      ${nodes.filter((node) => node.name !== job.node && node.state === 'ready' && node.availability === 'active').map((node) => html`<option value=${node.name}>${node.name}, and move it there</option>`)}
    </select></label>
    <label>Type ${job.name} to confirm <input value=${typed} onInput=${(event) => setTyped(event.target.value)} autocomplete="off" /></label>
    <button class="primary" type="submit" disabled=${typed !== job.name}>${toNode ? `Restore onto ${toNode} and move it there` : 'Restore in place'}</button>
    <button type="button" onClick=${onClose}>Cancel</button>
    <p role="alert" class="error">${error}</p>
  </form>`
}
