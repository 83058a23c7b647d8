// The console's actions through its API: who may start a backup, a restore, a drill or a rehearsal, how each is
// asked, and how its end is recorded. The security of the API as a whole is test/console/server.ts's.
import t from 'tap'
import { consoleFixture, OPERATOR, READER } from '../fixtures/console.js'
import { consoleClients, jsonOf, type Client } from '../fixtures/console-client.js'

const { log, logText, webSnapshot, otherSnapshot, backend, backupsAsked, restoresAsked, recoveriesAsked, rehearsalsAsked, endRehearsal, readToken, operatorToken, accounts } = await consoleFixture(t)
const { serve, client, login } = consoleClients({ accounts, backend, log })

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
  const labelError = await operator.request('/api/jobs/db/backup', { method: 'POST', headers: { 'x-csrf-token': operator.csrf! } })
  t.equal(labelError.status, 409)
  t.match(jsonOf(labelError).error, /its labels are wrong/)
  const audit = jsonOf(await reader.request('/api/audit')).entries as { who: string; target: string; action: string; outcome: string }[]
  // Refused ones too: who tried what, and why it was refused.
  t.match(audit.filter((entry) => entry.action === 'backup now').map((entry) => [entry.who, entry.target, entry.outcome]), [
    ['alice', 'db', /^refused: its labels are wrong/],
    ['deploy', 'web', 'succeeded: backed up: snapshot 1234abcd saved'],
    ['deploy', 'web', 'started'],
    ['nightly', 'web', /^refused: nightly is read-only/],
    ['bob', 'web', /^refused: bob is read-only/],
    ['alice', 'web', 'succeeded: backed up: snapshot 1234abcd saved'],
    ['alice', 'web', 'started'],
    ['alice', 'web', /^refused: .*csrf/i],
    ['alice', 'web', /^refused: .*csrf/i],
  ], 'who backed up what, who was refused, and how each ended, newest first')
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
  t.equal((await restore(operator, { snapshot: webSnapshot, confirm: 'web', toNode: 5 })).status, 400, 'a node that is no name')
  const reader = await login(base, READER)
  t.equal((await restore(reader, { snapshot: webSnapshot, confirm: 'web' })).status, 403, "a read-only user's restore")
  t.equal((await client(base, { authorization: `Bearer ${readToken.token}` }).request('/api/jobs/web/restore', { method: 'POST', json: { snapshot: webSnapshot, confirm: 'web' } })).status, 403, "a read-only token's")
  t.same(restoresAsked, [], 'nothing restored so far')
  const refusals = (jsonOf(await operator.request('/api/audit')).entries as { who: string; action: string; target: string; outcome: string }[]).filter((entry) => entry.action === 'restore')
  t.match(refusals.map((entry) => [entry.who, entry.target, entry.outcome]), [
    ['nightly', 'web', /^refused: nightly is read-only/],
    ['bob', 'web', /^refused: bob is read-only/],
    ['alice', 'web', /^refused: toNode must be the name of a node/],
    ['alice', 'web', /^refused: job web has no snapshot/],
    ['alice', 'web', /^refused: a restore replaces the live data of web: give confirm="web"/],
    ['alice', 'web', /^refused: a restore replaces the live data/],
    ['alice', 'web', /^refused: .*csrf/i],
  ], "each refused restore in the audit log, with why")
  const started = await restore(operator, { snapshot: webSnapshot.slice(0, 8), confirm: 'web' })
  t.equal(started.status, 202)
  t.same(restoresAsked, [`web ${webSnapshot}`], 'by its full ID')
  const actions = jsonOf(await operator.request('/api/actions')).actions as { kind: string; state: string; message: string; who: string }[]
  t.match(actions, [{ kind: 'restore in place', who: 'alice', state: 'succeeded', message: /restored in place from snapshot/ }])
  t.match(logText(), new RegExp(`console: alice \\(operator\\): restore in place web from snapshot ${webSnapshot.slice(0, 8)}: started[\\s\\S]*: succeeded: service app_web restored`))
})


t.test('a drill now needs an operator; its outcome, passed or failed, is the action\'s', async (t) => {
  const base = await serve(t)
  const operator = await login(base, OPERATOR)
  const drill = (who: Client, job: string) => who.request(`/api/jobs/${job}/drill`, { method: 'POST', headers: { 'x-csrf-token': who.csrf! } })
  t.equal((await drill(await login(base, READER), 'web')).status, 403, "a read-only user's drill")
  t.equal((await drill(operator, 'nope')).status, 404)
  t.equal((await drill(operator, 'web')).status, 202)
  t.equal((await drill(operator, 'db')).status, 202)
  const actions = jsonOf(await operator.request('/api/actions')).actions as { job: string; kind: string; state: string; message: string }[]
  t.match(actions, [
    { job: 'db', kind: 'drill', state: 'failed', message: 'the drill of db failed: its command exited 1' },
    { job: 'web', kind: 'drill', state: 'succeeded', message: 'the drill of web passed: 2 files restored' },
  ])
})


t.test("a job's runs: on its own page, not in the list; their logs, which hold what hooks printed, for an operator only", async (t) => {
  const base = await serve(t)
  const operator = await login(base, OPERATOR)
  const reader = await login(base, READER)
  const listed = jsonOf(await reader.request('/api/jobs')).jobs as { name: string; status?: { history?: unknown } }[]
  t.equal(listed.find((job) => job.name === 'web')?.status?.history, undefined, 'the list has no history')
  const historyOf = async (who: Client) => ((jsonOf(await who.request('/api/jobs/web')).job as { status: { history: { message: string; log?: string[] }[] } }).status.history)
  t.match(await historyOf(operator), [{ message: /snapshot 1234abcd saved/, log: [/Added to the repository/] }, { message: 'the server did not answer', log: [String, /Connection refused/] }])
  const read = await historyOf(reader)
  t.same(read.map((run) => run.message), ['backed up: snapshot 1234abcd saved', 'the server did not answer'], 'a reader sees the runs')
  t.notOk(read.some((run) => 'log' in run), 'and none of their logs')
})

t.test("a stack's rehearsal now needs an operator, runs once at a time, and its outcome is the action's", async (t) => {
  const base = await serve(t)
  const operator = await login(base, OPERATOR)
  const rehearse = (who: Client, stack: string) => who.request(`/api/stacks/${stack}/rehearse`, { method: 'POST', headers: { 'x-csrf-token': who.csrf! } })
  t.match(jsonOf(await operator.request('/api/jobs')).jobs, [{ name: 'db', stack: 'app' }, { name: 'web', stack: 'app' }], "each job's stack")
  t.equal((await rehearse(await login(base, READER), 'app')).status, 403, "a read-only user's rehearsal")
  const unknown = await rehearse(operator, 'nope')
  t.equal(unknown.status, 404)
  t.match(jsonOf(unknown).error, /there is no stack nope with a labelled service/)
  t.equal((await rehearse(operator, 'app')).status, 202)
  const again = await rehearse(operator, 'app')
  t.equal(again.status, 409, 'not a second one while the first goes')
  t.match(jsonOf(again).error, /an action on stack app is going/)
  t.same(rehearsalsAsked, ['app'])
  t.match(jsonOf(await operator.request('/api/actions')).actions, [{ job: 'stack app', kind: 'rehearsal', state: 'running' }])
  endRehearsal()
  await new Promise((resolve) => setImmediate(resolve))
  t.match(jsonOf(await operator.request('/api/actions')).actions, [{ job: 'stack app', kind: 'rehearsal', state: 'succeeded', message: 'the rehearsal of stack app passed: app_web ran, its probe passed' }])
  t.match(logText(), /console: alice \(operator\): rehearsal stack app: succeeded/)
})

t.test("a lost node's recovery: its plan for anyone, carried out by an operator who names the node again", async (t) => {
  const base = await serve(t)
  const reader = await login(base, READER)
  const plan = jsonOf(await reader.request('/api/recovery?node=node-2'))
  t.match(plan, { lost: 'node-2', steps: [{ job: 'web', target: 'node-1', said: /^web: volumes from snapshot/ }] })
  const ready = await reader.request('/api/recovery?node=node-1')
  t.equal(ready.status, 400, 'a node that is not lost')
  t.match(jsonOf(ready).error, /node-1 is ready/)
  const carry = (who: Client, body: unknown) => who.request('/api/recovery', { method: 'POST', json: body, headers: { 'x-csrf-token': who.csrf! } })
  const shown = ['web -> node-1']
  t.equal((await carry(reader, { node: 'node-2', confirm: 'node-2', steps: shown })).status, 403, "a read-only user's")
  const operator = await login(base, OPERATOR)
  t.equal((await carry(operator, { node: 'node-2', steps: shown })).status, 400, 'not confirmed')
  t.equal((await carry(operator, { node: 'node-2', confirm: 'node-2' })).status, 400, 'no plan confirmed')
  t.same(recoveriesAsked, [])
  t.equal((await carry(operator, { node: 'node-2', confirm: 'node-2', steps: shown })).status, 202)
  t.same(recoveriesAsked, ['node-2'])
  t.match(jsonOf(await operator.request('/api/actions')).actions, [{ kind: 'recover a node', job: 'node node-2', state: 'succeeded', message: 'recovered from node-2: web back on node-1' }])
})
