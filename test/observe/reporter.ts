import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Reporter } from '../../lib/observe/reporter.js'
import { RUNS_KEPT } from '../../lib/observe/run-history.js'
import type { RunListener, RunReport } from '../../lib/observe/run-report.js'
import { notifications } from '../../lib/notify/listener.js'
import { type Outcome } from '../../lib/observe/status.js'
import { readStatus, updateStatus } from '../../lib/observe/status-file.js'
import { outcomeOf } from '../../lib/observe/outcome.js'
import { captureLogger } from '../fixtures/log.js'

const outcome = (ok: boolean, message: string) => outcomeOf(new Date(Date.now() - 1000), new Date(), ok, message, ok ? 0 : 1)

t.test('runs are recorded in STATUS_FILE and told to the listeners with the outcome before them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-reporter-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'status.json')
  const heard: string[] = []
  const listener: RunListener = {
    started: async (job, kind) => void heard.push(`started ${job} ${kind}`),
    finished: async (report: RunReport, previous: Outcome | undefined) => void heard.push(`finished ${report.job} ${report.outcome.ok} after ${previous?.ok ?? 'none'}`),
    overdue: async (report: RunReport) => (heard.push(`overdue ${report.job}`), []),
  }
  const broken: RunListener = {
    started: async () => {
      throw new Error('the webhook is down')
    },
    finished: async () => {
      throw new Error('the webhook is down')
    },
    overdue: async () => {
      throw new Error('the webhook is down')
    },
  }
  const { log, text } = captureLogger()
  const reporter = new Reporter({ statusFile: file, listeners: [listener, broken], log })
  t.ok(reporter.recording)

  await reporter.watch([{ name: 'app', schedule: '0 3 * * *', overdueAfterMs: 3_600_000 }, { name: 'old', schedule: '0 4 * * *' }])
  await reporter.watch([{ name: 'app', schedule: '0 3 * * *', overdueAfterMs: 3_600_000 }, { name: 'bad', error: 'a bad label' }])
  let table = await readStatus(file)
  t.same(Object.keys(table.jobs).sort(), ['app', 'bad'], 'a job no longer there is dropped')
  t.match(table.jobs.app, { schedule: '0 3 * * *', overdueAfterSeconds: 3600 })
  t.match(table.jobs.bad, { error: 'a bad label' })

  await reporter.started('app', 'backup')
  t.match((await readStatus(file)).jobs.app, { running: { pid: process.pid } })
  await reporter.finished({ job: 'app', kind: 'backup', outcome: outcome(false, 'server gone') })
  await reporter.finished({ job: 'app', kind: 'backup', outcome: outcome(true, 'backed up'), snapshot: { id: 'abc', time: 'now', repository: 'r' }, snapshots: 3 })
  await reporter.finished({ job: 'app', kind: 'check', outcome: outcome(true, 'no errors') })
  table = await readStatus(file)
  t.match(table.jobs.app, { lastAttempt: { ok: true }, lastSuccess: { message: 'backed up' }, lastSnapshot: { id: 'abc' }, snapshots: 3, failuresInARow: 0, lastCheck: { ok: true } })
  t.notOk(table.jobs.app?.running)
  t.same(heard, ['started app backup', 'finished app false after none', 'finished app true after false', 'finished app true after none'])
  t.match(text(), /WARN\s+notify: the webhook is down/, 'a failing listener is logged, and fails nothing')

  // A snapshot found in the repository counts only where nothing newer is recorded.
  await reporter.foundInRepository('app', { id: 'old', time: '2020-01-01T00:00:00Z', repository: 'r' }, 9)
  t.equal((await readStatus(file)).jobs.app?.lastSnapshot?.id, 'abc')
  await reporter.foundInRepository('bad', { id: 'found', time: '2020-01-01T00:00:00Z', repository: 'r' }, 9)
  t.match((await readStatus(file)).jobs.bad, { lastSuccess: { finishedAt: '2020-01-01T00:00:00Z' }, lastSnapshot: { id: 'found' }, snapshots: 9 })
})

t.test("a job's history keeps its newest runs of every kind, newest first, with what a backup added and its log's last lines", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-reporter-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'status.json')
  const reporter = new Reporter({ statusFile: file, log: captureLogger().log })
  const log = Array.from({ length: 30 }, (_, i) => `INFO line ${i}`).concat(['x'.repeat(1000)])
  await reporter.finished({ job: 'app', kind: 'backup', outcome: outcome(false, 'server gone'), logTail: log })
  await reporter.finished({ job: 'app', kind: 'backup', outcome: outcome(true, 'backed up'), snapshot: { id: 'abc', time: 'now', repository: 'r', bytesAdded: 4096 } })
  await reporter.finished({ job: 'app', kind: 'drill', outcome: outcome(true, 'the drill passed') })
  await reporter.finished({ job: 'repository app', kind: 'check', outcome: outcome(true, 'no errors'), checked: { repository: 'app', jobs: ['app'] } })
  let history = (await readStatus(file)).jobs.app?.history ?? []
  t.same(history.map((run) => `${run.kind} ${run.ok} ${run.message}`), ['drill true the drill passed', 'backup true backed up', 'backup false server gone'], "a repository's check is not one of the job's runs")
  t.match(history[1], { snapshot: 'abc', bytesAdded: 4096 })
  t.equal(history[2]?.log?.length, 20, "a run's log is cut to its last 20 lines")
  t.equal(history[2]?.log?.[0], 'INFO line 11')
  t.ok(history[2]!.log!.at(-1)!.length < 500, 'and each line to a few hundred characters')
  for (let i = 0; i < RUNS_KEPT; i++) await reporter.finished({ job: 'app', kind: 'backup', outcome: outcome(true, `run ${i}`) })
  history = (await readStatus(file)).jobs.app?.history ?? []
  t.equal(history.length, RUNS_KEPT, `at most ${RUNS_KEPT} runs are kept`)
  t.equal(history[0]?.message, `run ${RUNS_KEPT - 1}`)
})

t.test('without STATUS_FILE nothing is written, and listeners still hear', async (t) => {
  const heard: string[] = []
  const reporter = new Reporter({ log: captureLogger().log, listeners: [{ started: async () => void heard.push('started'), finished: async () => void heard.push('finished'), overdue: async () => (heard.push('overdue'), []) }] })
  t.notOk(reporter.recording)
  await reporter.started('app', 'backup')
  await reporter.finished({ job: 'app', kind: 'backup', outcome: outcome(true, 'ok') })
  t.equal(await reporter.status('app'), undefined)
  t.same(heard, ['started', 'finished'])
})

t.test('a per-node job forgotten while a discovery was under way is not kept again; back on its node, it is no longer forgotten', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-reporter-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'status.json')
  const reporter = new Reporter({ statusFile: file, log: captureLogger().log })
  const keptNode = { service: 'app_cache', nodeId: 'id-n3' }
  await reporter.keepNode('app_cache@n3', keptNode, { id: 'a'.repeat(64), time: '2026-11-01T03:00:00Z', repository: 'repo' }, 1)
  t.same(await reporter.keptNodes(), [keptNode], 'kept from the snapshot found in the repository')
  // rds jobs --forget, between a discovery's reading of the kept nodes and its watch().
  await updateStatus(file, (table) => {
    delete table.jobs['app_cache@n3']!.keptNode
    table.forgottenJobs = ['app_cache@n3']
  })
  await reporter.watch([{ name: 'app_cache@n3', keptNode, runsThere: false }])
  t.same(await reporter.keptNodes(), [], 'the stale discovery does not keep it again')
  t.same(await reporter.forgottenJobs(), ['app_cache@n3'])
  await reporter.watch([])
  t.same(await reporter.forgottenJobs(), ['app_cache@n3'], 'remembered after its job is dropped')
  await reporter.watch([{ name: 'app_cache@n3', keptNode, runsThere: false }])
  t.same(await reporter.forgottenJobs(), ['app_cache@n3'], 'its node down with its task still listed: still forgotten')
  await reporter.watch([{ name: 'app_cache@n3', keptNode, runsThere: true }])
  t.same(await reporter.forgottenJobs(), [], 'its service runs on the node again: no longer forgotten')
})

t.test('an OVERDUE notice that a destination did not get is sent again to it alone, 1, 2, 4... minutes apart, until it gets it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-reporter-'))
  t.teardown(() => rm(dir, { recursive: true }))
  // Two webhooks of one host: /good always answers, /flaky is down for its first call.
  const received: { path: string; body: string }[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => (body += chunk))
    request.on('end', () => {
      received.push({ path: request.url!, body })
      const flakyCalls = received.filter((call) => call.path === '/flaky').length
      response.writeHead(request.url === '/flaky' && flakyCalls === 1 ? 503 : 200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const { log, text } = captureLogger()
  const listener = notifications(`${base}/good,${base}/flaky`, undefined, log)!
  const reporter = new Reporter({ statusFile: join(dir, 'status.json'), listeners: [listener], log })
  await reporter.watch([{ name: 'app', overdueAfterMs: 60_000 }])
  const overdueAt = Date.now() + 120_000
  const paths = () => received.map((call) => call.path)
  await reporter.noticeOverdue(new Date(overdueAt))
  t.same(paths().sort(), ['/flaky', '/good'], 'told to both; /flaky refused it')
  t.match(text(), /WARN\s+status: that app is OVERDUE did not reach 2\. webhook http:\/\/127\.0\.0\.1:\d+\/…; it is told again in 1 minute\(s\)/)
  await reporter.noticeOverdue(new Date(overdueAt + 30_000))
  t.equal(received.length, 2, 'not before the minute is up')
  await reporter.noticeOverdue(new Date(overdueAt + 61_000))
  t.same(paths().slice(2), ['/flaky'], 'told again, to /flaky alone')
  t.match(JSON.parse(received[2]!.body), { event: 'overdue', job: 'app' })
  t.notOk((await reporter.status('app'))?.overdueUnsent, 'and it got it')
  await reporter.noticeOverdue(new Date(overdueAt + 3_600_000))
  t.equal(received.length, 3, 'once per episode, once every destination got it')
})

t.test('an OVERDUE notice still being sent is not sent again by the next heartbeat', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-reporter-'))
  t.teardown(() => rm(dir, { recursive: true }))
  // A destination that takes its time to answer, as a hanging mail server does.
  let calls = 0
  const server = createServer((request, response) => {
    calls++
    request.resume()
    request.on('end', () => setTimeout(() => response.writeHead(200).end(), 500))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { log } = captureLogger()
  const listener = notifications(`http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`, undefined, log)!
  const reporter = new Reporter({ statusFile: join(dir, 'status.json'), listeners: [listener], log })
  await reporter.watch([{ name: 'app', overdueAfterMs: 60_000 }])
  const overdueAt = Date.now() + 120_000
  const first = reporter.noticeOverdue(new Date(overdueAt))
  // The next heartbeat, while the first is still sending: by its time, a retry would be due.
  await new Promise((resolve) => setTimeout(resolve, 100))
  await reporter.noticeOverdue(new Date(overdueAt + 61_000))
  await first
  t.equal(calls, 1, 'sent once')
  t.notOk((await reporter.status('app'))?.overdueUnsent, 'and it got there')
  await reporter.noticeOverdue(new Date(overdueAt + 122_000))
  t.equal(calls, 1, 'not again in the episode')
})

t.test("a job's verdicts reach its guard from a table that is no longer JSON, before and after it is set aside", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-reporter-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'status.json')
  const rejected = 'b'.repeat(64)
  await updateStatus(file, (table) => void (table.jobs.app = { watchedSince: 'then', rejectedSnapshots: [rejected] }))
  await appendFile(file, '{ damaged')
  const { log, text } = captureLogger()
  const reporter = new Reporter({ statusFile: file, log })
  t.same(await reporter.rejectedFor('app'), [rejected], 'what the guard and the job container are given')
  t.same(await reporter.rejectedSnapshots(), [rejected])
  await reporter.started('app', 'backup')
  t.match(text(), /STATUS_FILE \S+ could not be read .* a new one is started from what could still be read of it \(1 job\(s\), with the 1 rejected snapshot\(s\) it still shows\)/)
  t.match(await reporter.status('app'), { rejectedSnapshots: [rejected], running: {} }, 'the new table has them, and the run')
  await appendFile(file, '{ damaged again')
  const snapshot = { id: 'c'.repeat(64), time: '2026-12-01T03:00:00Z', repository: 'repo' }
  t.ok(await reporter.keepNode('app@n2', { service: 'app', nodeId: 'n2' }, snapshot, 1), 'a change made on the new table is written, and said so')
  t.match(await reporter.status('app@n2'), { keptNode: { nodeId: 'n2' } })
  // Laid out by hand on one line, and damaged: its verdicts can be told of no job, and every job's guard gets them.
  await writeFile(file, `{"jobs": {"app": {"rejectedSnapshots": ["${rejected}"]}}, "rejectedSnapshots": ["${'d'.repeat(64)}"]`)
  t.same((await reporter.rejectedFor('other')).sort(), [rejected, 'd'.repeat(64)], "verdicts under no job reach each job's guard")
  // A STATUS_FILE that cannot be read now: its verdicts are never taken for none.
  await rm(file)
  await mkdir(file)
  await t.rejects(reporter.rejectedFor('app'), { message: /^STATUS_FILE \S+ cannot be read \(EISDIR.*\); it records the snapshots the guard rejected/ })
  await t.rejects(reporter.rejectedSnapshots(), { message: /cannot be read/ })
})
