// One folder of a snapshot: its files and folders, each to open or download (a folder as tar).
import { html, useEffect, useState } from '/vendor/preact-htm.js'
import { api, downloadUrl, jobPath } from '/api.js'

export const browseUrl = (job, snapshot, path) => `#/browse/${encodeURIComponent(job)}/${snapshot}${path.split('/').map(encodeURIComponent).join('/')}`

export function Browse({ job, snapshot, path: rest }) {
  const path = `/${rest}`.replace(/\/+$/, '') || '/'
  const [listing, setListing] = useState(undefined)
  const [error, setError] = useState('')
  useEffect(() => {
    document.title = `${path} · ${job} · restic-docker-swarm`
    setListing(undefined)
    api(`${jobPath(job)}/files?snapshot=${snapshot}&path=${encodeURIComponent(path)}`).then(setListing, (failure) => setError(failure.message))
  }, [job, snapshot, path])
  const parent = path.replace(/\/[^/]*$/, '') || '/'
  return html`<h1>${path}</h1>
    <p><a href=${`#/job/${encodeURIComponent(job)}`}>${job}</a>, snapshot <code>${snapshot.slice(0, 8)}</code>
      ${path !== '/' ? html` · <a href=${browseUrl(job, snapshot, parent)}>Up to ${parent}</a>` : ''}
      · <a href=${downloadUrl(job, snapshot, path)} download>Download ${path} as tar</a></p>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${!listing && !error ? html`<p>Loading…</p>` : ''}
    ${listing && html`<div class="table" tabindex="0" role="region" aria-label="Files"><table>
      <caption>In ${path}</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Modified</th><th scope="col">Download</th></tr></thead>
      <tbody>${listing.entries.map((entry) => {
        const name = entry.path.slice(entry.path.lastIndexOf('/') + 1)
        return html`<tr key=${entry.path}>
          <th scope="row">${entry.type === 'dir' ? html`<a href=${browseUrl(job, snapshot, entry.path)}>${name}/</a>` : name}</th>
          <td>${entry.type === 'file' ? entry.size : ''}</td>
          <td>${entry.mtime ? new Date(entry.mtime).toLocaleString() : ''}</td>
          <td><a href=${downloadUrl(job, snapshot, entry.path)} download aria-label=${`Download ${name} as ${entry.type === 'dir' ? 'tar' : 'file'}`}>${entry.type === 'dir' ? 'tar' : 'file'}</a></td>
        </tr>`
      })}</tbody>
    </table></div>`}`
}
