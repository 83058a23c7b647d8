// One job: its state, its runs, and its snapshots, each to browse.
import { html, useEffect, useState } from '/vendor/preact-htm.js'
import { api, jobPath } from '/api.js'
import { age, usePolling } from '/live.js'
import { BackupNow, stateClass } from '/overview.js'
import { browseUrl } from '/browse.js'
import { RestoreService } from '/restore.js'
import { StartAction } from '/actions.js'
import { RunHistory, size } from '/runs.js'

export function Job({ job: name, user }) {
  const [answer, error, refresh] = usePolling(() => api(jobPath(name)), 10_000, name)
  const [restoring, setRestoring] = useState(undefined)
  useEffect(() => { document.title = `${name} · restic-docker-swarm` }, [name])
  if (!answer) return html`<h1>${name}</h1>${error ? html`<p role="alert" class="error">${error}</p>` : html`<p>Loading…</p>`}`
  const { job, snapshots } = answer
  const status = job.status ?? {}
  const attempt = status.lastAttempt
  return html`<h1>${job.name}</h1>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    <p>Service <strong>${job.service}</strong>${job.stack ? html` of stack <strong>${job.stack}</strong>` : ''} on ${job.node ?? 'no node now'}, repository <code>${job.repository ?? '-'}</code>, schedule <code>${job.schedule ?? '-'}</code>.</p>
    <p>State: <span class=${stateClass(job.state)}>${job.state}</span> <${BackupNow} job=${job} user=${user} onStarted=${refresh} /></p>
    ${user.role === 'operator' && html`<div class="actions"><${StartAction} label="Drill now" path=${`${jobPath(name)}/drill`} />
      ${job.stack && html`<${StartAction} label=${`Rehearse stack ${job.stack} now`} path=${`/stacks/${encodeURIComponent(job.stack)}/rehearse`} />`}</div>`}
    <dl>
      <dt>Last run</dt><dd>${attempt ? html`${attempt.ok ? 'succeeded' : html`<span class="error">FAILED</span>`} ${age(attempt.finishedAt)}, ${attempt.durationSeconds.toFixed(1)} s: ${attempt.message}` : 'none yet'}</dd>
      <dt>Last snapshot</dt><dd>${status.lastSnapshot ? html`${status.lastSnapshot.id.slice(0, 8)}, ${size(status.lastSnapshot.bytesAdded)} added of ${size(status.lastSnapshot.bytesProcessed)}` : 'none yet'}</dd>
      <dt>Runs</dt><dd>${status.runs ? `${status.runs.success} succeeded, ${status.runs.failure} failed` : '-'}</dd>
    </dl>
    <${RunHistory} history=${status.history ?? []} />
    ${restoring && html`<${RestoreService} key=${restoring.id} job=${job} snapshot=${restoring} onClose=${() => setRestoring(undefined)} />`}
    <div class="table" tabindex="0" role="region" aria-label="Snapshots"><table>
      <caption>Snapshots, newest first (${snapshots.length})</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">ID</th><th scope="col">Paths</th><th scope="col">Tags</th>${user.role === 'operator' ? html`<th scope="col">Action</th>` : ''}</tr></thead>
      <tbody>${snapshots.map((snapshot) => html`<tr key=${snapshot.id}>
        <td>${age(snapshot.time)}</td>
        <td><a href=${browseUrl(job.name, snapshot.id, snapshot.paths[0] ?? '/')} aria-label=${`Browse snapshot ${snapshot.short_id}`}>${snapshot.short_id}</a></td>
        <td><code>${snapshot.paths.join(', ')}</code></td>
        <td>${(snapshot.tags ?? []).join(', ')}</td>
        ${user.role === 'operator' ? html`<td><button type="button" onClick=${() => setRestoring(snapshot)} aria-label=${`Restore from ${snapshot.short_id}`}>Restore</button></td>` : ''}
      </tr>`)}</tbody>
    </table></div>`
}
