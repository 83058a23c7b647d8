import t from 'tap'
import { salvagedTable } from '../../lib/observe/salvage.js'
import type { StatusTable } from '../../lib/observe/status.js'

// STATUS_FILE as updateStatus writes it (two spaces a level), then damaged by hand in one place.
const [gone, other, saved, savedDb] = ['a', 'e', 'd', 'f'].map((digit) => digit.repeat(64)) as [string, string, string, string]
const table: StatusTable = {
  heartbeatAt: '2026-12-07T03:00:00Z',
  jobs: {
    app: {
      watchedSince: '2026-12-01T00:00:00Z',
      lastSuccess: { startedAt: 'then', finishedAt: 'then', ok: true, message: 'snapshot dddddddd', durationSeconds: 3 },
      lastSnapshot: { id: saved, time: '2026-12-07T02:00:00Z', repository: 'app on server' },
      history: [{ kind: 'backup', startedAt: 'then', durationSeconds: 3, ok: true, message: 'backed up', log: ['INFO  run: succeeded'] }],
    },
    db: { watchedSince: '2026-12-02T00:00:00Z', lastSnapshot: { id: savedDb, time: '2026-12-07T01:00:00Z', repository: 'db on server' }, rejectedSnapshots: [other] },
  },
  rejectedSnapshots: [gone],
  forgottenJobs: ['web@node-2'],
  copiedInto: { offsite: { id: saved, time: '2026-12-07T02:00:00Z', by: 'app' } },
}
const text = `${JSON.stringify(table, null, 2)}\n`

t.test('a damaged line costs only the record it is in: each job keeps its last snapshot, the table its copies and verdicts', async (t) => {
  const damaged = text.replace('"kind": "backup",', '"kind": "backup" oops')
  t.throws(() => JSON.parse(damaged), 'no longer JSON')
  const read = salvagedTable(damaged)
  const { history, ...rest } = table.jobs.app!
  t.ok(history)
  t.same(read.jobs.app, rest, "the job's history, where the damage is, is lost; the rest of the job is not")
  t.same(read.jobs.db, table.jobs.db, 'the other job whole')
  t.same([read.heartbeatAt, read.rejectedSnapshots, read.forgottenJobs, read.copiedInto], [table.heartbeatAt, [gone], ['web@node-2'], table.copiedInto], 'and what the table keeps besides its jobs')
  t.same(salvagedTable(damaged.replace(/\n/g, '\r\n')), read, 'with the line ends of Windows too')
})

t.test('a damaged last snapshot is lost alone; a job whose key line is gone gives its records to no other job', async (t) => {
  const broken = salvagedTable(text.replace(`"id": "${saved}",`, `"id": "${saved},`))
  t.notOk(broken.jobs.app?.lastSnapshot, 'a record damaged itself is not guessed at')
  t.same(broken.jobs.app?.history, table.jobs.app!.history, 'the rest of its job is kept')

  const keyless = salvagedTable(text.replace(/\n {4}"db": \{/, ''))
  t.same(keyless.jobs.app, table.jobs.app, "the job before it keeps its own last snapshot, not the lost job's")
  t.notOk(keyless.jobs.db, 'the job whose name is lost is gone')
  t.same(keyless.rejectedSnapshots?.sort(), [gone, other].sort(), 'its verdict is kept under no job')
})

t.test("two jobs' lines run together (a closing line and a key deleted): what both name is taken from neither", async (t) => {
  const merged = salvagedTable(text.replace(/\n {4}\},\n {4}"db": \{/, ''))
  t.notOk(merged.jobs.app?.lastSnapshot, 'which last snapshot is whose cannot be told')
  t.match(merged.jobs.app?.watchedSince, /^\d{4}-/, 'a job is watched from now when its start cannot be told')
  t.not(merged.jobs.app?.watchedSince, table.jobs.app!.watchedSince)
  t.same(merged.jobs.app?.rejectedSnapshots, [other], 'a verdict is never dropped')
  t.same(merged.jobs.app?.history, table.jobs.app!.history, 'what only one of them names is kept')
})

t.test('a table laid out otherwise (by hand, on one line) gives its verdicts, and no job', async (t) => {
  const oneLine = salvagedTable(`${JSON.stringify(table)},`)
  t.same(oneLine.jobs, {})
  t.same(oneLine.rejectedSnapshots?.sort(), [gone, other].sort())
})
