// The run locks a restore or a rehearsal holds: while held, the job's backups (and their retention)
// do not run; a backup that runs is waited for, at most its MAX_RUN_TIME; several are all or none.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { EXIT, type RunError } from '../../lib/errors.js'
import { holdBackups, holdBackupsOf } from '../../lib/recover/hold-backups.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import { takeRunLock } from '../../lib/run/run-lock.js'
import { captureLogger } from '../fixtures/log.js'

const job = (name: string, maxRunTime: number) => ({ name, service: name, backup: { maxRunTime } }) as unknown as SwarmJob
// What the controller takes before a backup of a job.
const backupLock = (dir: string, name: string) => takeRunLock(dir, `swarm\n${name}`, name, captureLogger().log)
const refused = (attempt: Promise<unknown>) => attempt.then(() => 'taken', (error: RunError) => error.exitCode)

t.test("a held job's backup cannot start; a running backup is waited for, then held", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-hold-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { log, text } = captureLogger()
  const release = await holdBackups(dir, job('shop_db', 60_000), log)
  t.equal(await refused(backupLock(dir, 'shop_db')), EXIT.locked, 'no backup while held')
  await release()
  const backup = await backupLock(dir, 'shop_db')
  const held = holdBackups(dir, job('shop_db', 60_000), log)
  setTimeout(() => void backup(), 1000)
  await (await held)()
  t.match(text(), /restore: a backup of shop_db is running; waiting for it to end/)
})

t.test('several jobs are held all or none: one whose backup runs past its MAX_RUN_TIME lets the others go', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-hold-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { log } = captureLogger()
  const running = await backupLock(dir, 'shop_web')
  const failed = await holdBackupsOf(dir, [job('shop_web', 0), job('shop_db', 60_000)], log).catch((error: RunError) => error)
  t.equal((failed as RunError).exitCode, EXIT.locked)
  const free = await backupLock(dir, 'shop_db')
  t.pass('shop_db, taken first, was let go')
  await free()
  await running()
  const releaseAll = await holdBackupsOf(dir, [job('shop_web', 0), job('shop_db', 0)], log)
  t.equal(await refused(backupLock(dir, 'shop_web')), EXIT.locked)
  await releaseAll()
  await (await backupLock(dir, 'shop_web'))()
})
