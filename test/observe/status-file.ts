import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { jobStatus } from '../../lib/observe/status.js'
import { readStatus, updateStatus } from '../../lib/observe/status-file.js'
import { salvageRejected } from '../../lib/observe/rejected.js'
import { rejectedSnapshots } from '../../lib/observe/status-file.js'

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
  // An update never replaces what it cannot read: the file is kept aside, and the update says so.
  await t.rejects(updateStatus(file, (table) => void (table.jobs.app = { watchedSince: 'now' })), {
    message: /^STATUS_FILE \S+status\.json could not be read \(it is not JSON\); it was kept as \S+status\.json\.unreadable-\S+ and a new one is started from what could still be read of it \(0 job\(s\)\); what could not be read is only in the file kept$/,
  })
  const aside = (await readdir(join(dir, 'nested'))).find((name) => name.startsWith('status.json.unreadable-'))!
  t.equal(await readFile(join(dir, 'nested', aside), 'utf8'), '{half', 'kept as it was, for a person to mend')
  t.same(await readStatus(file), { jobs: { app: { watchedSince: 'now' } } }, 'the update is made on a new table')
  t.same((await readdir(join(dir, 'nested'))).sort(), ['status.json', aside], 'no partial file or lock is left')
})

t.test("a damaged table still gives the guard's verdicts it shows, each job's its own, and the new table keeps them", async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'status.json')
  const [gone, first, second, other, saved] = ['a', 'b', 'c', 'e', 'd'].map((digit) => digit.repeat(64))
  await updateStatus(file, (table) => {
    // A log line that is a bare ID, after the list: never taken for a verdict.
    const run = { kind: 'backup', startedAt: 'then', durationSeconds: 1, ok: true, message: 'backed up', log: [saved!] }
    table.jobs.app = { watchedSince: 'then', rejectedSnapshots: [first!, second!], lastSnapshot: { id: saved!, time: 'then', repository: 'repo' }, history: [run] }
    table.jobs['db "main"'] = { watchedSince: 'then', rejectedSnapshots: [other!] }
    table.rejectedSnapshots = [gone!]
  })
  const all = () => rejectedSnapshots({ statusFile: file, rejectedSnapshots: [] })
  t.same((await all()).sort(), [gone, first, second, other].sort())
  const text = await readFile(file, 'utf8')
  // Cut short after a job's verdicts: the rest (the other job's, the gone jobs' list) is lost with the end.
  await writeFile(file, text.slice(0, text.indexOf(second!) + 70))
  t.same(await all(), [first, second], 'read from what is left: "latest" never becomes one of them')
  await writeFile(file, text.slice(0, text.indexOf(second!) + 10))
  t.same(await all(), [first], 'an ID cut in two is no ID')
  // A list whose end is lost: what follows it (the last snapshot, accepted) is no verdict.
  await writeFile(file, text.replace(/(c{64}")\n\s*\],/, '$1,'))
  t.same((await all()).sort(), [gone, first, second, other].sort(), 'the last snapshot after a list without its end is not taken')
  t.same(salvageRejected(text.replace(/\n/g, '\r\n').replace(/\}\s*$/, '')), { jobs: { app: [first, second], 'db "main"': [other] }, gone: [gone] }, "with the line ends of Windows, each job's its own")
  await writeFile(file, `${JSON.stringify(JSON.parse(text))},`)
  t.same((await all()).sort(), [gone, first, second, other].sort(), 'on one line: the lists read, whatever the layout')
  await writeFile(file, text.replace('"db \\"main\\"": {', '"db \\q": {').replace(/\}\s*$/, ''))
  t.same((await all()).sort(), [gone, first, second, other].sort(), "a job's key damaged past reading: its verdicts kept all the same")
  t.same(salvageRejected(text.replace('"db \\"main\\"": {', '"db \\q": {').replace(/\}\s*$/, '')), { jobs: { app: [first, second] }, gone: [other, gone] }, 'under no job: never given to another')
  t.same(salvageRejected(text.replace(/\n {4}"db \\"main\\"": \{/, '').replace(/\}\s*$/, '')), { jobs: { app: [first, second] }, gone: [other, gone] }, "a job's key line deleted: its verdicts are not the job's before it")
  await writeFile(file, `${text.slice(0, text.lastIndexOf('}'))},`)
  await t.rejects(updateStatus(file, (table) => void (table.heartbeatAt = 'now')), { message: /; it was kept as \S+status\.json\.unreadable-\S+ and a new one is started from what could still be read of it \(2 job\(s\), with the 4 rejected snapshot\(s\) it still shows\)/ })
  const renewed = await readStatus(file)
  t.same([renewed.jobs.app?.rejectedSnapshots, renewed.jobs['db "main"']?.rejectedSnapshots, renewed.rejectedSnapshots, renewed.heartbeatAt], [[first, second], [other], [gone], 'now'], "the new table has each job's, the gone jobs', and the update")
  t.same([renewed.jobs.app?.lastSnapshot, renewed.jobs.app?.history?.length], [{ id: saved, time: 'then', repository: 'repo' }, 1], 'and the rest of it, which is whole')
  const aside = (await readdir(dir)).find((name) => name.startsWith('status.json.unreadable-'))!
  t.equal(await readFile(join(dir, aside), 'utf8'), `${text.slice(0, text.lastIndexOf('}'))},`, 'the old one kept as it was')
  // A change that fails on the new table: the damage is what is said, and the verdicts are kept.
  await writeFile(file, 'null')
  await t.rejects(updateStatus(file, () => { throw new Error('keeps no job x') }), { message: /^STATUS_FILE \S+ could not be read \(it holds no table\); it was kept as/ })
  t.same(await readStatus(file), { jobs: {} })
  // Jobs that are no table would take changes never written: damaged too. A table without its jobs keeps the rest.
  await writeFile(file, '{"jobs": []}')
  await t.rejects(readStatus(file), { name: 'SyntaxError', message: /"jobs" is not a table/ })
  await writeFile(file, JSON.stringify({ rejectedSnapshots: [gone], forgottenJobs: ['old'] }))
  t.same(await readStatus(file), { jobs: {}, rejectedSnapshots: [gone], forgottenJobs: ['old'] })
})

t.test('a table damaged in a last snapshot says that the guard of that job cannot see its repository vanish', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'status.json')
  const saved = { id: 'd'.repeat(64), time: 'then', repository: 'repo' }
  await updateStatus(file, (table) => void (table.jobs.app = { watchedSince: 'then', lastSnapshot: saved }))
  await updateStatus(file, (table) => void (table.jobs.db = { watchedSince: 'then', lastSnapshot: { ...saved, repository: 'db' } }))
  await writeFile(file, (await readFile(file, 'utf8')).replace('"repository": "repo"', '"repository": repo'))
  await t.rejects(updateStatus(file, (table) => void (table.heartbeatAt = 'now')), {
    message: /a new one is started from what could still be read of it \(2 job\(s\)\); the last snapshot of 1 job\(s\) could not be read: until their next backup, a repository of theirs that vanished would be started afresh; /,
  })
  const renewed = await readStatus(file)
  t.same([renewed.jobs.app?.lastSnapshot, renewed.jobs.db?.lastSnapshot?.repository], [undefined, 'db'])
})

t.test('a status written by a version before the table keeps its last snapshot for the job', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'status.json')
  await writeFile(file, JSON.stringify({ ok: true, exitCode: 0, finishedAt: '2026-01-02T03:04:05.000Z', lastSnapshot: { id: 'abc', savedAt: '2026-01-02T03:04:05.000Z', repository: 'repo' } }))
  t.match(jobStatus(await readStatus(file), 'any name'), { lastSnapshot: { id: 'abc', time: '2026-01-02T03:04:05.000Z', repository: 'repo' } })
  await updateStatus(file, (table) => void (table.jobs.app = { watchedSince: 'now' }))
  t.same(Object.keys((await readStatus(file)).jobs), ['app'], 'the old entry is replaced by the first write')
})
