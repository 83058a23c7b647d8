// Every job of the Swarm, what needs a person first, live while the page is open.
import { html, useEffect, useState } from '/vendor/preact-htm.js'
import { api, jobPath } from '/api.js'
import { age, usePolling } from '/live.js'

export function BackupNow({ job, user, onStarted }) {
  const [said, setSaid] = useState('')
  if (user.role !== 'operator') return null
  const start = async () => {
    setSaid('starting…')
    try {
      await api(`${jobPath(job.name)}/backup`, { method: 'POST' })
      setSaid('started')
      onStarted?.()
    } catch (failure) {
      setSaid(failure.message)
    }
  }
  return html`<button type="button" onClick=${start} disabled=${job.state === 'RUNNING' || job.state === 'LABEL ERROR'} aria-label=${`Back up now: ${job.name}`}>Back up now</button>
    <span role="status" class="muted">${said}</span>`
}

export const stateClass = (state) => `state state-${state.replace(' ', '-')}`

export function Overview({ user }) {
  const [jobs, error, refresh] = usePolling(async () => (await api('/jobs')).jobs, 3000)
  useEffect(() => { document.title = 'Overview · restic-docker-swarm' }, [])
  return html`<h1>Overview</h1>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    <div class="table" tabindex="0" role="region" aria-label="Jobs"><table>
      <caption>Every labelled service's backup job, those that need a person first</caption>
      <thead><tr><th scope="col">Job</th><th scope="col">State</th><th scope="col">Node</th><th scope="col">Last good backup</th><th scope="col">Next run</th><th scope="col">Checks</th><th scope="col">Action</th></tr></thead>
      <tbody>${(jobs ?? []).map((job) => html`<tr key=${job.name} data-job=${job.name}>
        <th scope="row"><a href=${`#/job/${encodeURIComponent(job.name)}`}>${job.name}</a></th>
        <td class=${stateClass(job.state)}>${job.state}${job.queued ? html`<div class="muted">${job.queued}</div>` : ''}${job.status?.error ? html`<div>${job.status.error}</div>` : ''}</td>
        <td>${job.node ?? html`<span class="muted">${job.unavailable ?? 'none yet'}</span>`}</td>
        <td>${job.status?.lastSuccess ? html`${age(job.status.lastSuccess.finishedAt)}${job.status.lastSnapshot ? html` <span class="muted">(${job.status.lastSnapshot.id.slice(0, 8)})</span>` : ''}` : html`<span class="muted">none yet</span>`}
          ${job.status?.lastAttempt && !job.status.lastAttempt.ok ? html`<div class="error">last run failed: ${job.status.lastAttempt.message}</div>` : ''}</td>
        <td>${job.nextRun ? new Date(job.nextRun).toLocaleString() : html`<span class="muted">-</span>`}</td>
        <td>${checks(job.status)}</td>
        <td><${BackupNow} job=${job} user=${user} onStarted=${refresh} /></td>
      </tr>`)}</tbody>
    </table></div>
    ${jobs && jobs.length === 0 ? html`<p>No service is labelled rds.backup=true yet.</p>` : ''}`
}

/** Its last check, drill, rehearsal and copies, each passed or FAILED. */
function checks(status) {
  if (!status) return html`<span class="muted">-</span>`
  const parts = [['check', status.lastCheck], ['drill', status.lastDrill], ['rehearsal', status.lastRehearsal], ...Object.entries(status.copies ?? {}).map(([name, copy]) => [`copy into ${name}`, copy.lastAttempt])]
  const seen = parts.filter(([, outcome]) => outcome)
  if (seen.length === 0) return html`<span class="muted">none yet</span>`
  return seen.map(([what, outcome]) => html`<div class=${outcome.ok ? '' : 'error'}>${what} ${outcome.ok ? 'passed' : 'FAILED'} ${age(outcome.finishedAt)}</div>`)
}
