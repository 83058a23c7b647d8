// Who did what in the console, newest first.
import { html, useEffect } from '/vendor/preact-htm.js'
import { api } from '/api.js'
import { usePolling } from '/live.js'

export function Audit() {
  const [entries, error] = usePolling(async () => (await api('/audit')).entries, 5000)
  useEffect(() => { document.title = 'Who did what · restic-docker-swarm' }, [])
  return html`<h1>Who did what</h1>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    <div class="table" tabindex="0" role="region" aria-label="Who did what"><table>
      <caption>Logins and actions since the controller started, newest first</caption>
      <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Outcome</th></tr></thead>
      <tbody>${(entries ?? []).map((entry, index) => html`<tr key=${index}>
        <td>${new Date(entry.at).toLocaleString()}</td><td>${entry.who} (${entry.role})</td><td>${entry.action} ${entry.target}</td><td>${entry.outcome}</td>
      </tr>`)}</tbody>
    </table></div>`
}
