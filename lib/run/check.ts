import { formatBytes } from '../restic/backup-summary.js'
import { checkRepository } from '../restic/check.js'
import type { Restic } from '../restic/command.js'
import { keepingTail } from '../observe/log.js'
import { outcomeOf } from '../observe/outcome.js'
import type { Job } from './job.js'
import { runLockKey, type RunContext } from './run.js'
import { takeRunLock } from './run-lock.js'
import { withLockCare } from './stale-locks.js'

/**
 * One scheduled `restic check` of the job's repository (CHECK_AT), under the job's run lock so that
 * it never runs beside its backup. The result goes where a backup's goes: STATUS_FILE, the
 * metrics and the notifications. Resolves to whether the repository is sound.
 */
export async function runCheck(job: Job, context: RunContext): Promise<boolean> {
  const { log, tail } = keepingTail(context.log)
  let release: () => Promise<void>
  try {
    release = await takeRunLock(context.lockDir, runLockKey(job), job.name, log)
  } catch (error) {
    log.warn(`check: skipped: ${(error as Error).message}`)
    return false
  }
  try {
    const restic: Restic = { binary: context.resticBinary, repository: job.repository, retryLock: context.retryLock, bandwidth: context.bandwidth, signal: context.signal }
    const started = new Date()
    const subset = job.check?.readDataSubset
    log.info(`check: checking ${job.repository.describe}${subset ? `, reading ${subset} of the data` : ''}`)
    let ok = true
    let message: string
    let sizeBytes: number | undefined
    try {
      ;({ sizeBytes } = await withLockCare(restic, () => undefined, log, (locking) => checkRepository(locking, subset, log)))
      message = `no errors in ${job.repository.describe}${sizeBytes === undefined ? '' : ` (${formatBytes(sizeBytes)} on the server)`}`
      log.info(`check: ${message}`)
    } catch (error) {
      ok = false
      message = (error as Error).message
      log.error(`check: ${message}`)
    }
    await context.reporter?.finished({
      job: job.name,
      kind: 'check',
      outcome: outcomeOf(started, new Date(), ok, message, ok ? 0 : 1),
      checked: { repository: job.repository.describe, sizeBytes, jobs: [job.name] },
      logTail: tail(),
    })
    return ok
  } finally {
    await release()
  }
}
