// Every volume on every node, and what backs it up: NOT SURVEYED and NOT COVERED first.
import { html, useEffect, useState } from '/vendor/preact-htm.js'
import { api } from '/api.js'
import { age } from '/live.js'

export function Coverage() {
  const [rows, setRows] = useState(undefined)
  const [error, setError] = useState('')
  useEffect(() => {
    document.title = 'Coverage · restic-docker-swarm'
    api('/coverage').then((answer) => setRows(answer.rows), (failure) => setError(failure.message))
  }, [])
  const missing = (rows ?? []).filter((row) => row.status === 'NOT COVERED' || row.status === 'NOT SURVEYED').length
  return html`<h1>Coverage</h1>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${!rows && !error ? html`<p role="status">Surveying the volumes of every node…</p>` : ''}
    ${rows && html`<p role="status" class=${missing ? 'error' : ''}>${missing ? `${missing} volume(s) or node(s) need a look` : 'Every volume in use is covered'}</p>
    <div class="table" tabindex="0" role="region" aria-label="Coverage"><table>
      <caption>Every volume on every node</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">Volume</th><th scope="col">Status</th><th scope="col">Used by</th><th scope="col">Backed up</th></tr></thead>
      <tbody>${rows.map((row) => html`<tr key=${`${row.node}/${row.volume}`}>
        <td>${row.node}</td>
        <th scope="row">${row.volume || html`<span class="muted">-</span>`}</th>
        <td class=${`state ${row.status === 'covered' ? 'state-OK' : row.status.startsWith('NOT') ? 'state-FAILING' : ''}`}>${row.status}${row.flags.map((flag) => html`<div class="muted">${flag}</div>`)}</td>
        <td>${row.services.join(', ')}</td>
        <td>${row.job ? html`<a href=${`#/job/${encodeURIComponent(row.job)}`}>${row.job}</a>, ${row.lastSnapshot ? age(row.lastSnapshot) : 'no snapshot yet'}` : ''}</td>
      </tr>`)}</tbody>
    </table></div>`}`
}
