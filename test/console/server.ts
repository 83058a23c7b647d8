import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { execa } from 'execa'
import t from 'tap'
import type { JobView } from '../../lib/console/backend.js'
import { buildConsole } from '../../lib/console/server.js'
import { AuditLog } from '../../lib/console/audit.js'
import { consoleFixture, OPERATOR, PASSWORD, READER } from '../fixtures/console.js'
import { consoleClients, jsonOf } from '../fixtures/console-client.js'

const { dir, log, logText, volumes, file: FILE, webSnapshot, otherSnapshot, backend, readToken, accounts } = await consoleFixture(t)

const { serve, client, login, answers } = consoleClients({ accounts, backend, log })

/** A request as written, on a connection of its own: what fetch would not send. */
function rawRequest(base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text))
    let answer = ''
    socket.on('data', (chunk) => void (answer += chunk.toString()))
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
  })
}

/** A read-only user's session cookie, for a raw request. */
async function loginCookie(base: string): Promise<string> {
  const response = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(READER) })
  return response.headers.get('set-cookie')!.split(';')[0]!
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
  await client(base).request('/api/session', { method: 'POST', json: { name: OPERATOR.password, password: '' } })
  t.notMatch(logText(), OPERATOR.password, 'a password typed into the name field is not logged')
  t.match(logText(), /console: \(a name no account has\) \(-\): login/)
  // The route Fastify matches, however its address is written: encoded, or absolute.
  t.equal((await client(base).request('/%61pi/jobs')).status, 401, '/%61pi/jobs')
  t.equal((await client(base).request('/api/%6Aobs')).status, 401, '/api/%6Aobs')
  const absolute = await rawRequest(base, 'GET http://elsewhere/api/jobs HTTP/1.1\r\nHost: elsewhere\r\nConnection: close\r\n\r\n')
  t.match(absolute, /^HTTP\/1\.1 401 /, `an absolute address: ${absolute}\n${logText().split('\n').filter((line) => /ERROR/.test(line)).join('\n')}`)
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
  t.equal(file.headers.get('content-length'), String(FILE.length), "a file's length is said: a download cut short shows")
  const folderPath = `/api/jobs/web/download?snapshot=${webSnapshot}&path=${encodeURIComponent(join(volumes, 'data'))}`
  const cookie = await loginCookie(base)
  t.match(await rawRequest(base, `GET ${folderPath} HTTP/1.0\r\ncookie: ${cookie}\r\n\r\n`), /^HTTP\/1\.1 426 [\s\S]*HTTP\/1\.0 cannot tell complete from cut short/, 'no folder over HTTP/1.0')
  const folder = await browser.request(folderPath)
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

t.test('a session ends when its user logs out, and after a while without a request', async (t) => {
  const base = await serve(t, { idleMs: 300 })
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

t.test("every route of the API is in docs/console.md's table, and every route there is served", async (t) => {
  const app = await buildConsole({ accounts, backend, audit: new AuditLog(log), log })
  t.teardown(() => app.close())
  await app.ready()
  // Fastify's tree of routes: each line a path (under its parent's) and its methods.
  const served: string[] = []
  const parents: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const found = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line)
    if (!found) continue
    const depth = found[1]!.length / 4
    parents.length = depth
    const path = `${parents.join('')}${found[2]}`
    parents.push(path.slice(parents.join('').length))
    if (path.startsWith('/api/')) for (const method of found[3]!.split(', ')) if (method !== 'HEAD') served.push(`${method} ${path}`)
  }
  const docs = await readFile(new URL('../../docs/console.md', import.meta.url), 'utf8')
  const documented = [...docs.matchAll(/^\| `(GET|POST|DELETE|PUT) (\/api\/[^`?\s]+)/gm)].map(([, method, path]) => `${method} ${path!.replace(/\/([A-Z]+)(?=\/|$)/g, (_, name: string) => `/:${name.toLowerCase()}`)}`)
  t.ok(served.length >= 15, `the API's routes read (${served.length})`)
  t.same([...new Set(documented)].sort(), [...new Set(served)].sort())
})
