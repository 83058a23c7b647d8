import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { AuditLog } from '../../lib/console/audit.js'
import { auditFileOf } from '../../lib/console/start.js'
import { captureLogger } from '../fixtures/log.js'

const entry = (n: number) => ({ who: 'alice', role: 'operator', action: 'backup now', target: `job-${n}`, outcome: 'started' })

t.test("the audit log is kept in its file, beside STATUS_FILE, and read back by the next controller's console", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-audit-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = auditFileOf(join(dir, 'state', 'status.json'))
  t.equal(file, join(dir, 'state', 'console-audit.jsonl'))
  const { log, text } = captureLogger()
  const first = await AuditLog.open(log, file)
  first.record(entry(1))
  first.record({ ...entry(2), who: 'bob\nINFO forged line' })
  await first.written()
  t.equal((await stat(file)).mode & 0o777, 0o600, 'only the controller reads it')
  t.match(text(), /console: alice \(operator\): backup now job-1: started/, "and in the controller's log")
  // A controller killed while it wrote: its last line cut short.
  await appendFile(file, '{"at":"2026-12-07T00:00:00Z","who":"ca')
  const second = await AuditLog.open(log, file)
  t.same(second.newest().map((kept) => `${kept.who} ${kept.target}`), ['bob?INFO forged line job-2', 'alice job-1'], 'the entries kept, newest first; the torn line dropped')
  t.equal((await readFile(file, 'utf8')).trim().split('\n').length, 2, 'and gone from the file')
})

t.test('the file keeps the newest thousand entries, however long the controller runs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-audit-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'console-audit.jsonl')
  const audit = await AuditLog.open(captureLogger().log, file)
  for (let n = 1; n <= 2500; n++) audit.record(entry(n))
  await audit.written()
  const lines = (await readFile(file, 'utf8')).trim().split('\n')
  t.ok(lines.length <= 2000, `the file is cut as it grows (${lines.length} lines)`)
  const again = await AuditLog.open(captureLogger().log, file)
  t.equal(again.newest().length, 1000)
  t.equal(again.newest()[0]?.target, 'job-2500')
  t.equal(again.newest().at(-1)?.target, 'job-1501')
})

t.test('a file that cannot be written is said in the log; the console goes on', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-audit-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { log, text } = captureLogger()
  const audit = new AuditLog(log, join(dir, 'no such folder', 'console-audit.jsonl'))
  audit.record(entry(1))
  await audit.written()
  t.equal(audit.newest().length, 1)
  t.match(text(), /WARN\s+console: could not keep an entry of the audit log in .*no such folder/)
})

t.test("an account's stream of refused calls never pushes the others' entries out: ten a minute kept, the rest only logged", async (t) => {
  const { log, text } = captureLogger()
  const audit = new AuditLog(log)
  audit.record({ who: 'alice', role: 'operator', action: 'restore', target: 'web', outcome: 'started' })
  for (let n = 1; n <= 1500; n++) audit.refused({ who: 'bob', role: 'read-only', action: 'backup now', target: `job-${n}`, outcome: 'refused: bob is read-only; an operator may do this.' })
  audit.refused({ who: 'carol', role: 'read-only', action: 'drill', target: 'web', outcome: 'refused: carol is read-only; an operator may do this.' })
  const entries = audit.newest()
  t.equal(entries.filter((entry) => entry.who === 'bob').length, 10, "bob's first ten refusals this minute")
  t.match(entries.map((entry) => entry.who), ['carol', 'bob', 'bob', 'bob', 'bob', 'bob', 'bob', 'bob', 'bob', 'bob', 'bob', 'alice'], "carol's, and alice's entry still there")
  t.match(text(), /WARN\s+console: bob \(read-only\): backup now job-1500: refused: .*\(not in the audit log: more than 10 refusals of bob this minute\)/)
})
