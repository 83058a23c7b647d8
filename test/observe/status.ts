import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { isOverdue, isRunning, jobStatus, outcomeOf, overdueAt, readStatus, recordOutcome, updateStatus, type JobStatus } from '../../lib/observe/status.js'
import { rejectedSnapshots } from '../../lib/observe/rejected.js'

const tempDir = async (t: Test) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-status-'))
  t.teardown(() => rm(dir, { recursive: true }))
  return dir
}

t.test('the table is written whole and read back; concurrent updates lose nothing', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'nested', 'status.json')
  t.same(await readStatus(file), { jobs: {} }, 'an empty table before anything is recorded')
  // Forty writers at once, each adding its own job: the lock lets each read what the others wrote.
  await Promise.all(Array.from({ length: 40 }, (_, i) => updateStatus(file, (table) => void (table.jobs[`job${i}`] = { watchedSince: new Date().toISOString() }))))
  t.equal(Object.keys((await readStatus(file)).jobs).length, 40)
  t.same((await readdir(join(dir, 'nested'))).sort(), ['status.json'], 'no partial file or lock is left')
  await writeFile(file, '{half')
  await t.rejects(readStatus(file), SyntaxError)
  // An update never replaces what it cannot read: the file is set aside, and the update says so.
  await t.rejects(updateStatus(file, (table) => void (table.jobs.app = { watchedSince: 'now' })), {
    message: /^STATUS_FILE \S+status\.json could not be read \(.*JSON.*\); it was moved to \S+status\.json\.unreadable-\S+ and a new one is started/,
  })
  const aside = (await readdir(join(dir, 'nested'))).find((name) => name.startsWith('status.json.unreadable-'))!
  t.equal(await readFile(join(dir, 'nested', aside), 'utf8'), '{half', 'kept as it was, for a person to mend')
  await updateStatus(file, (table) => void (table.jobs.app = { watchedSince: 'now' }))
  t.same(Object.keys((await readStatus(file)).jobs), ['app'], 'the next update starts a new table')
})

t.test("a table cut short still gives the guard's verdicts it holds, and the new table keeps them", async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'status.json')
  const [gone, first, second] = ['a', 'b', 'c'].map((digit) => digit.repeat(64))
  await updateStatus(file, (table) => {
    table.rejectedSnapshots = [gone!]
    table.jobs.app = { watchedSince: 'now', rejectedSnapshots: [first!, second!], lastSnapshot: { id: 'd'.repeat(64), time: 'now', repository: 'repo' } }
  })
  t.same(await rejectedSnapshots({ statusFile: file, rejectedSnapshots: [] }), [gone, first, second])
  // Cut where a full disk might: after the verdicts, before the end.
  const text = await readFile(file, 'utf8')
  await writeFile(file, text.slice(0, text.indexOf(second!) + 70))
  // The list of jobs that are gone is written after the jobs: lost with the end of the file.
  t.same(await rejectedSnapshots({ statusFile: file, rejectedSnapshots: [] }), [first, second], 'read from what is left: "latest" never becomes one of them')
  await writeFile(file, text.slice(0, text.indexOf(second!) + 10))
  t.same(await rejectedSnapshots({ statusFile: file, rejectedSnapshots: [gone!] }), [gone, first], 'an ID cut in two is no ID')
  await writeFile(file, text.slice(0, text.indexOf(second!) + 70))
  await t.rejects(updateStatus(file, () => undefined), { message: /; it was moved to \S+status\.json\.unreadable-\S+ and a new one is started \(with the 2 rejected snapshot\(s\) it still shows\)/ })
  t.same(await readStatus(file), { jobs: {}, rejectedSnapshots: [first, second] }, 'the new table starts with them')
  const aside = (await readdir(dir)).find((name) => name.startsWith('status.json.unreadable-'))!
  t.equal(await readFile(join(dir, aside), 'utf8'), text.slice(0, text.indexOf(second!) + 70), 'the old one kept as it was')
})

t.test('a status written by a version before the table keeps its last snapshot for the job', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'status.json')
  await writeFile(file, JSON.stringify({ ok: true, exitCode: 0, finishedAt: '2026-01-02T03:04:05.000Z', lastSnapshot: { id: 'abc', savedAt: '2026-01-02T03:04:05.000Z', repository: 'repo' } }))
  t.match(jobStatus(await readStatus(file), 'any name'), { lastSnapshot: { id: 'abc', time: '2026-01-02T03:04:05.000Z', repository: 'repo' } })
  await updateStatus(file, (table) => void (table.jobs.app = { watchedSince: 'now' }))
  t.same(Object.keys((await readStatus(file)).jobs), ['app'], 'the old entry is replaced by the first write')
})

t.test('outcomes: the last success outlives failures, which are counted in a row', async (t) => {
  const status: JobStatus = { watchedSince: '2026-01-01T00:00:00.000Z', running: { since: 'x', pid: 1 } }
  const at = (iso: string) => new Date(iso)
  recordOutcome(status, outcomeOf(at('2026-01-01T03:00:00Z'), at('2026-01-01T03:00:12.34Z'), true, 'backed up', 0))
  t.same(status.lastSuccess, { startedAt: '2026-01-01T03:00:00.000Z', finishedAt: '2026-01-01T03:00:12.340Z', ok: true, exitCode: 0, message: 'backed up', durationSeconds: 12.3 })
  t.notOk(status.running)
  recordOutcome(status, outcomeOf(at('2026-01-02T03:00:00Z'), at('2026-01-02T03:00:01Z'), false, 'server gone', 1))
  recordOutcome(status, outcomeOf(at('2026-01-03T03:00:00Z'), at('2026-01-03T03:00:01Z'), false, 'server gone', 1))
  t.equal(status.failuresInARow, 2)
  t.equal(status.lastSuccess?.finishedAt, '2026-01-01T03:00:12.340Z')
  t.equal(status.lastAttempt?.message, 'server gone')
})

t.test('a job is OVERDUE when its last success (or the start of watching) is older than its limit', async (t) => {
  const status: JobStatus = { watchedSince: '2026-01-01T00:00:00.000Z' }
  t.equal(overdueAt(status), undefined, 'no limit, never overdue')
  t.notOk(isOverdue(status, new Date('2030-01-01')))
  status.overdueAfterSeconds = 48 * 3600
  t.equal(overdueAt(status)?.toISOString(), '2026-01-03T00:00:00.000Z', 'never succeeded: counted from when it was first seen')
  t.notOk(isOverdue(status, new Date('2026-01-02T23:59:59Z')))
  t.ok(isOverdue(status, new Date('2026-01-03T00:00:00Z')))
  recordOutcome(status, outcomeOf(new Date('2026-01-02T03:00:00Z'), new Date('2026-01-02T03:01:00Z'), true, 'ok'))
  t.equal(overdueAt(status)?.toISOString(), '2026-01-04T03:01:00.000Z', 'a success moves it')
  recordOutcome(status, outcomeOf(new Date('2026-01-03T03:00:00Z'), new Date('2026-01-03T03:01:00Z'), false, 'failed'))
  t.equal(overdueAt(status)?.toISOString(), '2026-01-04T03:01:00.000Z', 'a failure does not')
})

t.test('a run recorded as going is going only while its process lives', async (t) => {
  const child = execa('sleep', ['30'])
  t.ok(isRunning({ watchedSince: '', running: { since: '', pid: child.pid! } }))
  child.kill('SIGKILL')
  await child.catch(() => undefined)
  t.notOk(isRunning({ watchedSince: '', running: { since: '', pid: child.pid! } }), 'a killed run is not taken for a running one')
  t.notOk(isRunning({ watchedSince: '' }))
})
