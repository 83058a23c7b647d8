// A job's newest runs of every kind, as STATUS_FILE keeps them: each with its duration, what it added and its log's last lines.
import { html } from '/vendor/preact-htm.js'
import { age } from '/live.js'

export const size = (bytes) => (bytes === undefined ? '-' : bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`)

const duration = (seconds) => (seconds < 120 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds / 60)} min`)

export function RunHistory({ history }) {
  if (history.length === 0) return html`<p>No run recorded yet.</p>`
  return html`<div class="table" tabindex="0" role="region" aria-label="Runs"><table>
    <caption>Runs, newest first (${history.length})</caption>
    <thead><tr><th scope="col">Kind</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Added</th><th scope="col">Outcome</th></tr></thead>
    <tbody>${history.map((run) => html`<tr key=${`${run.kind} ${run.startedAt}`}>
      <td>${run.kind}</td>
      <td><time datetime=${run.startedAt}>${age(run.startedAt)}</time></td>
      <td>${duration(run.durationSeconds)}</td>
      <td>${size(run.bytesAdded)}</td>
      <td>${run.ok ? 'succeeded' : html`<span class="error">FAILED</span>`}${run.exitCode ? ` (exit ${run.exitCode})` : ''}: ${run.message}
        ${run.log?.length ? html`<details><summary>Log (${run.log.length} lines)</summary><pre>${run.log.join('\n')}</pre></details>` : ''}</td>
    </tr>`)}</tbody>
  </table></div>`
}
