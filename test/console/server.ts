import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildConsole } from '../../lib/console/server.js'
import { AuditLog } from '../../lib/console/audit.js'
import type { JobView } from '../../lib/console/backend.js'
import { consoleFixture, OPERATOR, PASSWORD, READER } from '../fixtures/console.js'

const { dir, log, logText, volumes, file: FILE, webSnapshot, otherSnapshot, backend, backupsAsked, restoresAsked, readToken, operatorToken, accounts } = await consoleFixture(t)

/** Every answer any test got, to look for the repository's password in. */
const answers: string[] = []

async function serve(t: Test, idleMs?: number): Promise<string> {
  const app: FastifyInstance = await buildConsole({ accounts, backend, audit: new AuditLog(log), log, idleMs })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return address
}

interface Client {
  request(path: string, init?: RequestInit & { json?: unknown }): Promise<Response & { body_: Buffer }>
  csrf?: string
}

/** A browser's requests: it keeps the session's cookie, and sends the CSRF token when given. */
function client(base: string, headers: Record<string, string> = {}): Client {
  let cookie = ''
  const self: Client = {
    async request(path, init = {}) {
      const { json, ...rest } = init
      const response = await fetch(`${base}${path}`, {
        ...rest,
        body: json === undefined ? rest.body : JSON.stringify(json),
        headers: { ...headers, ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...(cookie ? { cookie } : {}), ...(rest.headers as Record<string, string>) },
      })
      const setCookie = response.headers.get('set-cookie')
      if (setCookie) cookie = setCookie.split(';')[0]!
      const body = Buffer.from(await response.arrayBuffer())
      answers.push(`${[...response.headers].join('\n')}\n${body.toString('latin1')}`)
      return Object.assign(response, { body_: body })
    },
  }
  return self
}

const jsonOf = (response: { body_: Buffer }) => JSON.parse(response.body_.toString()) as Record<string, unknown>

async function login(base: string, who: { name: string; password: string }): Promise<Client> {
  const browser = client(base)
  const response = await browser.request('/api/session', { method: 'POST', json: who })
  if (response.status !== 200) throw new Error(`login of ${who.name}: ${response.status} ${response.body_.toString()}`)
  browser.csrf = jsonOf(response).csrfToken as string
  return browser
}

t.test('nothing is answered without a login or a token', async (t) => {
  const base = await serve(t)
  for (const path of ['/api/jobs', '/api/jobs/web', `/api/jobs/web/download?snapshot=${webSnapshot}&path=/`, '/api/audit', '/api/session']) {
    t.equal((await client(base).request(path)).status, 401, `GET ${path}`)
  }
  t.equal((await client(base).request('/api/jobs/web/backup', { method: 'POST' })).status, 401, 'POST backup')
  t.equal((await client(base, { authorization: 'Bearer nightly.not-the-secret' }).request('/api/jobs')).status, 401, 'a wrong token')
  t.equal((await client(base, { authorization: `Bearer ${readToken.token.replace('nightly', 'deploy')}` }).request('/api/jobs')).status, 401, "a token's secret under another name")
  const wrong = await client(base).request('/api/session', { method: 'POST', json: { name: OPERATOR.name, password: 'not the password' } })
  t.equal(wrong.status, 401, 'a wrong password')
  t.equal((await client(base).request('/api/session', { method: 'POST', json: { name: 'nobody', password: OPERATOR.password } })).status, 401, 'an unknown user')
  t.match(logText(), /console: alice \(-\): login the console: refused/, 'the refused login is logged')
  await client(base).request('/api/session', { method: 'POST', json: { name: 'mallory\nINFO forged line', password: 'x' } })
  t.match(logText(), /console: mallory\?INFO forged line \(-\): login/, 'a name typed at a login cannot forge a line of the log')
  // The pages themselves are public: they hold no data.
  const page = await client(base).request('/')
  t.equal(page.status, 200)
  t.match(page.body_.toString(), /<script type="module" src="\/app.js">/)
  t.match((await client(base).request('/vendor/preact-htm.js')).body_.toString(), /export\{/, 'the one library is served from the image')
})

t.test('an operator logs in, sees the jobs worst first, browses a snapshot and downloads a file and a folder', async (t) => {
  const base = await serve(t)
  const browser = await login(base, OPERATOR)
  const jobs = jsonOf(await browser.request('/api/jobs')).jobs as JobView[]
  t.same(jobs.map((job) => [job.name, job.state]), [['db', 'OVERDUE'], ['web', 'OK']])
  const job = jsonOf(await browser.request('/api/jobs/web'))
  t.same((job.snapshots as { id: string }[]).map((snapshot) => snapshot.id), [webSnapshot], "only the job's own snapshots")
  const listing = jsonOf(await browser.request(`/api/jobs/web/files?snapshot=${webSnapshot}&path=${encodeURIComponent(join(volumes, 'data'))}`))
  t.same((listing.entries as { path: string; type: string }[]).map((entry) => [entry.path.slice(volumes.length), entry.type]).sort(), [['/data/notes.txt', 'file'], ['/data/sub dir', 'dir']])
  const file = await browser.request(`/api/jobs/web/download?snapshot=${webSnapshot.slice(0, 8)}&path=${encodeURIComponent(join(volumes, 'data', 'sub dir', 'blob.bin'))}`)
  t.equal(file.status, 200)
  t.match(file.headers.get('content-disposition'), /attachment; filename="blob.bin"/)
  t.ok(file.body_.equals(FILE), "the file's bytes are the original's")
  const folder = await browser.request(`/api/jobs/web/download?snapshot=${webSnapshot}&path=${encodeURIComponent(join(volumes, 'data'))}`)
  t.equal(folder.headers.get('content-type'), 'application/x-tar')
  await writeFile(join(dir, 'folder.tar'), folder.body_)
  const out = join(dir, 'untarred')
  await mkdir(out)
  await execa('tar', ['-xf', join(dir, 'folder.tar'), '-C', out])
  t.ok((await readFile(join(out, volumes, 'data', 'sub dir', 'blob.bin'))).equals(FILE), 'the folder as tar holds the file whole')
})

t.test("a snapshot of another job, an unknown one, or a path outside the snapshot's is refused", async (t) => {
  const base = await serve(t)
  const browser = await login(base, READER)
  t.equal((await browser.request(`/api/jobs/web/files?snapshot=${otherSnapshot}`)).status, 404, "another job's snapshot")
  t.equal((await browser.request('/api/jobs/web/files?snapshot=deadbeef')).status, 404, 'an unknown snapshot')
  t.equal((await browser.request('/api/jobs/web/files?snapshot=../x')).status, 400, 'not an ID')
  t.equal((await browser.request(`/api/jobs/web/files?snapshot=${webSnapshot}&path=${encodeURIComponent(`${volumes}/../etc`)}`)).status, 400, 'a path with ..')
  t.equal((await browser.request(`/api/jobs/web/download?snapshot=${webSnapshot}&path=${encodeURIComponent(`${volumes}/missing`)}`)).status, 404, 'a path not in it')
  t.equal((await browser.request('/api/jobs/nope')).status, 404, 'no such job')
})

t.test('backing up needs an operator, and a page\'s request its CSRF token', async (t) => {
  const base = await serve(t)
  const operator = await login(base, OPERATOR)
  t.equal((await operator.request('/api/jobs/web/backup', { method: 'POST' })).status, 403, 'without the CSRF token')
  t.equal((await operator.request('/api/jobs/web/backup', { method: 'POST', headers: { 'x-csrf-token': 'forged' } })).status, 403, 'with a forged one')
  t.same(backupsAsked, [])
  t.equal((await operator.request('/api/jobs/web/backup', { method: 'POST', headers: { 'x-csrf-token': operator.csrf! } })).status, 202)
  t.same(backupsAsked, ['web'])
  const reader = await login(base, READER)
  const refused = await reader.request('/api/jobs/web/backup', { method: 'POST', headers: { 'x-csrf-token': reader.csrf! } })
  t.equal(refused.status, 403)
  t.match(jsonOf(refused).error, /bob is read-only/)
  t.equal((await client(base, { authorization: `Bearer ${readToken.token}` }).request('/api/jobs/web/backup', { method: 'POST' })).status, 403, 'a read-only token')
  t.equal((await client(base, { authorization: `Bearer ${readToken.token}` }).request('/api/jobs')).status, 200, 'a read-only token reads')
  t.equal((await client(base, { authorization: `Bearer ${operatorToken.token}` }).request('/api/jobs/web/backup', { method: 'POST' })).status, 202, "an operator's token (no cookie, no CSRF)")
  t.same(backupsAsked, ['web', 'web'])
  const audit = jsonOf(await reader.request('/api/audit')).entries as { who: string; action: string; outcome: string }[]
  t.same(audit.filter((entry) => entry.action === 'backup now').map((entry) => [entry.who, entry.outcome]), [['deploy', 'started'], ['alice', 'started']], 'who backed up what, newest first')
})

t.test('an in-place restore needs an operator, the CSRF token, a snapshot of the job and its name typed again; it runs on, and its end is in the actions and the log', async (t) => {
  const base = await serve(t)
  const operator = await login(base, OPERATOR)
  const restore = (who: Client, body: unknown, headers: Record<string, string> = { 'x-csrf-token': who.csrf! }) => who.request('/api/jobs/web/restore', { method: 'POST', json: body, headers })
  t.equal((await restore(operator, { snapshot: webSnapshot, confirm: 'web' }, {})).status, 403, 'without the CSRF token')
  const unconfirmed = await restore(operator, { snapshot: webSnapshot })
  t.equal(unconfirmed.status, 400)
  t.match(jsonOf(unconfirmed).error, /replaces the live data of web: give confirm="web"/)
  t.equal((await restore(operator, { snapshot: webSnapshot, confirm: 'db' })).status, 400, "another job's name")
  t.equal((await restore(operator, { snapshot: otherSnapshot, confirm: 'web' })).status, 404, "another job's snapshot")
  const reader = await login(base, READER)
  t.equal((await restore(reader, { snapshot: webSnapshot, confirm: 'web' })).status, 403, "a read-only user's restore")
  t.equal((await client(base, { authorization: `Bearer ${readToken.token}` }).request('/api/jobs/web/restore', { method: 'POST', json: { snapshot: webSnapshot, confirm: 'web' } })).status, 403, "a read-only token's")
  t.same(restoresAsked, [], 'nothing restored so far')
  const started = await restore(operator, { snapshot: webSnapshot.slice(0, 8), confirm: 'web' })
  t.equal(started.status, 202)
  t.same(restoresAsked, [`web ${webSnapshot}`], 'by its full ID')
  const actions = jsonOf(await operator.request('/api/actions')).actions as { kind: string; state: string; message: string; who: string }[]
  t.match(actions, [{ kind: 'restore in place', who: 'alice', state: 'succeeded', message: /restored in place from snapshot/ }])
  t.match(logText(), new RegExp(`console: alice \\(operator\\): restore in place web from snapshot ${webSnapshot.slice(0, 8)}: started[\\s\\S]*: succeeded: service app_web restored`))
})

t.test('a session ends when its user logs out, and after a while without a request', async (t) => {
  const base = await serve(t, 300)
  const browser = await login(base, READER)
  t.equal((await browser.request('/api/jobs')).status, 200)
  t.equal((await browser.request('/api/session', { method: 'DELETE', headers: { 'x-csrf-token': browser.csrf! } })).status, 204)
  t.equal((await browser.request('/api/jobs')).status, 401, 'logged out')
  const idle = await login(base, READER)
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.equal((await idle.request('/api/jobs')).status, 401, 'idle longer than the timeout')
})

t.test('logins are rate-limited, and every answer has the security headers', async (t) => {
  const base = await serve(t)
  const statuses: number[] = []
  for (let attempt = 0; attempt < 7; attempt++) statuses.push((await client(base).request('/api/session', { method: 'POST', json: { name: 'alice', password: `guess ${attempt}` } })).status)
  t.same(statuses, [401, 401, 401, 401, 401, 429, 429])
  const page = await client(base).request('/')
  t.match(page.headers.get('content-security-policy'), /default-src 'self'.*frame-ancestors 'none'/)
  t.notMatch(page.headers.get('content-security-policy'), /upgrade-insecure-requests/, 'plain HTTP stays plain: the pages load on the backup network')
  t.equal(page.headers.get('x-content-type-options'), 'nosniff')
  t.equal(page.headers.get('referrer-policy'), 'no-referrer')
  const api = await client(base, { authorization: `Bearer ${readToken.token}` }).request('/api/jobs')
  t.equal(api.headers.get('cache-control'), 'no-store')
  const session = await client(base).request('/api/session', { method: 'POST', json: READER })
  t.equal(session.status, 429, 'the limit is per address, whoever logs in')
})

t.test('the session cookie is HttpOnly and SameSite=Strict, and no answer ever held the repository password', async (t) => {
  const base = await serve(t)
  const response = await client(base).request('/api/session', { method: 'POST', json: OPERATOR })
  t.match(response.headers.get('set-cookie'), /HttpOnly/)
  t.match(response.headers.get('set-cookie'), /SameSite=Strict/)
  t.ok(answers.length > 30, `${answers.length} answers`)
  t.notOk(answers.some((answer) => answer.includes(PASSWORD)), 'none holds the password')
  t.notOk(answers.some((answer) => answer.includes(OPERATOR.password) || answer.includes(readToken.token)), 'nor a user\'s password or a token')
})
