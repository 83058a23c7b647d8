// The console's shell: the login, the header, and which page the address (#/...) shows.
import { html, render, useEffect, useState } from '/vendor/preact-htm.js'
import { api, setCsrfToken } from '/api.js'
import { Overview } from '/overview.js'
import { Job } from '/job.js'
import { Browse } from '/browse.js'
import { Audit } from '/audit.js'
import { Coverage } from '/coverage.js'
import { Recover } from '/recover.js'

function Login({ onLogin }) {
  const [error, setError] = useState('')
  const submit = async (event) => {
    event.preventDefault()
    const form = new FormData(event.target)
    try {
      onLogin(await api('/session', { method: 'POST', body: { name: form.get('name'), password: form.get('password') } }))
    } catch (failure) {
      setError(failure.message)
    }
  }
  return html`<main>
    <h1>Log in</h1>
    <form class="login" onSubmit=${submit}>
      <label>Name <input name="name" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button class="primary" type="submit">Log in</button>
      <p role="alert" class="error">${error}</p>
    </form>
  </main>`
}

// A part of the address that is not valid %-encoding is taken as it is.
const decode = (part) => { try { return decodeURIComponent(part) } catch { return part } }
const route = () => location.hash.replace(/^#\/?/, '').split('/').map(decode)

function App() {
  const [user, setUser] = useState(undefined)
  const [page, setPage] = useState(route())
  useEffect(() => {
    api('/session').then(setUser, () => setUser(null))
    const onHash = () => setPage(route())
    addEventListener('hashchange', onHash)
    return () => removeEventListener('hashchange', onHash)
  }, [])
  if (user === undefined) return html`<p>Loading…</p>`
  const login = (session) => {
    setCsrfToken(session.csrfToken)
    setUser(session)
  }
  if (user === null) return html`<${Login} onLogin=${login} />`
  setCsrfToken(user.csrfToken)
  const logout = async () => {
    await api('/session', { method: 'DELETE' }).catch(() => undefined)
    setUser(null)
  }
  const [name, ...rest] = page
  const content =
    name === 'job' ? html`<${Job} job=${rest[0]} user=${user} />`
    : name === 'browse' ? html`<${Browse} job=${rest[0]} snapshot=${rest[1]} path=${rest.slice(2).join('/')} />`
    : name === 'audit' ? html`<${Audit} />`
    : name === 'coverage' ? html`<${Coverage} />`
    : name === 'recover' ? html`<${Recover} user=${user} />`
    : html`<${Overview} user=${user} />`
  return html`<header>
      <strong>restic-docker-swarm</strong>
      <nav aria-label="Pages"><a href="#/">Overview</a><a href="#/coverage">Coverage</a><a href="#/recover">Recover a node</a><a href="#/audit">Who did what</a></nav>
      <span class="muted">${user.name} (${user.role})</span>
      <button type="button" onClick=${logout}>Log out</button>
    </header>
    <main>${content}</main>`
}

render(html`<${App} />`, document.getElementById('app'))
