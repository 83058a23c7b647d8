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
  const read = salvagedTable(damaged).table
  const { history: _, ...rest } = table.jobs.app!
  t.same(read.jobs.app, rest, "the job's history, where the damage is, is lost; the rest of the job is not")
  t.same(read.jobs.db, table.jobs.db, 'the other job whole')
  t.same([read.heartbeatAt, read.rejectedSnapshots, read.forgottenJobs, read.copiedInto], [table.heartbeatAt, [gone], ['web@node-2'], table.copiedInto], 'and what the table keeps besides its jobs')
  t.same(salvagedTable(damaged.replace(/\n/g, '\r\n')).table, read, 'with the line ends of Windows too')
})

t.test('a damaged last snapshot is lost alone, and counted; so is one without what its readers need', async (t) => {
  const broken = salvagedTable(text.replace(`"id": "${saved}",`, `"id": "${saved},`))
  t.notOk(broken.table.jobs.app?.lastSnapshot, 'a record damaged itself is not guessed at')
  t.same(broken.table.jobs.app?.history, table.jobs.app!.history, 'the rest of its job is kept')
  t.equal(broken.lostSnapshots, 1, 'the lost last snapshot is counted, to be said')
  // The ID's line deleted: what is left still parses, but a last snapshot without its ID is no record.
  const idless = salvagedTable(`${text.replace(`\n        "id": "${saved}",`, '')}oops`)
  t.notOk(idless.table.jobs.app?.lastSnapshot)
  t.same(idless.table.jobs.db?.lastSnapshot, table.jobs.db!.lastSnapshot)
  t.equal(idless.lostSnapshots, 1)
})

t.test('a job whose key line is gone gives its records to no other job; a damaged "jobs" line loses no job', async (t) => {
  const keyless = salvagedTable(text.replace(/\n {4}"db": \{/, '')).table
  t.same(keyless.jobs.app, table.jobs.app, "the job before it keeps its own last snapshot, not the lost job's")
  t.notOk(keyless.jobs.db, 'the job whose name is lost is gone')
  t.same(keyless.rejectedSnapshots?.sort(), [gone, other].sort(), 'its verdict is kept under no job')
  const jobsLine = salvagedTable(text.replace('"jobs": {', '"jobs" { ')).table
  t.same(jobsLine.jobs, table.jobs, 'every job, whole')
})

t.test("two jobs' lines run together (a closing line and a key deleted): neither job's records are taken, its verdicts are kept under no job", async (t) => {
  for (const [joined, how] of [['', 'as the deletion left them'], [',', 'with a comma added (JSON.parse would keep the last of each name)']] as const) {
    const merged = salvagedTable(`${text.replace(/\n {4}\},\n {4}"db": \{/, joined)}oops`).table
    t.notOk(merged.jobs.app, `${how}: the job that names its records twice is lost whole: which are whose cannot be told`)
    t.notOk(merged.jobs.db, how)
    t.same(merged.rejectedSnapshots?.sort(), [gone, other].sort(), `${how}: a verdict is never dropped`)
  }
})

t.test('a file cut short keeps what it has whole', async (t) => {
  const cut = salvagedTable(text.slice(0, text.indexOf('"rejectedSnapshots": [')))
  t.same(cut.table.jobs.app, table.jobs.app)
  t.same(cut.table.jobs.db?.lastSnapshot, table.jobs.db!.lastSnapshot)
  t.equal(cut.lostSnapshots, 0)
})

t.test("a colon lost from a list's key, or a quote from an ID's line, loses no verdict", async (t) => {
  const colon = salvagedTable(`${text.replace('"rejectedSnapshots": [', '"rejectedSnapshots" [').replace('  "rejectedSnapshots": [', '  "rejectedSnapshots [')}oops`).table
  t.same([colon.jobs.db?.rejectedSnapshots, colon.rejectedSnapshots], [[other], [gone]])
  const quote = salvagedTable(text.replace(`"${other}"`, `"${other}`)).table
  t.same(quote.jobs.db?.rejectedSnapshots, [other])
})

t.test('a line of a megabyte, of spaces or of an endless key, is read in one pass: it is no key', async (t) => {
  const spaces = salvagedTable(text.replace('"heartbeatAt": ', `"heartbeatAt"${' '.repeat(1_000_000)}`)).table
  t.same(spaces.jobs, table.jobs, 'the jobs, whole')
  const endless = salvagedTable(text.replace('    "db": {', `    "${'d'.repeat(10_000_000)}`)).table
  t.same(endless.jobs.app, table.jobs.app, 'a key line of ten megabytes without its end throws nothing')
})

t.test('a table laid out otherwise (by hand, on one line) gives its verdicts, and no job', async (t) => {
  const oneLine = salvagedTable(`${JSON.stringify(table)},`)
  t.same(oneLine.table.jobs, {})
  t.same(oneLine.table.rejectedSnapshots?.sort(), [gone, other].sort())
  t.equal(oneLine.lostSnapshots, 2, 'and says the last snapshots it lost')
})
