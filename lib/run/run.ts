import { hostname } from 'node:os'
import { describeSummary, type BackupSummary } from '../restic/backup-summary.js'
import { GuardRejection } from './guard.js'
import { copySnapshots } from '../restic/copy.js'
import { EXIT, RunError } from '../errors.js'
import { runHook } from './hooks.js'
import type { Job } from './job.js'
import type { Logger } from '../observe/log.js'
import { forgetArgs, forgetRejected } from '../restic/retention.js'
import { runRestic, type Restic } from '../restic/command.js'
import { takeRunLock } from './run-lock.js'
import { withLockCare } from './stale-locks.js'
import type { OwnerCheck } from '../restic/locks.js'
import { saveDump, saveGuarded } from './guarded-save.js'
import type { RunContext, RunResult } from './run-context.js'
import { filesSource } from './restic-backup.js'
import { type JobStatus } from '../observe/status.js'
import { outcomeOf } from '../observe/outcome.js'
import { keepingTail } from '../observe/log.js'
import { snapshotsOfHost } from '../restic/snapshots.js'
import { pauseService, unpauseLeftovers } from './pause.js'

export type { RunContext, RunResult } from './run-context.js'

const asRunError = (error: unknown): RunError =>
  error instanceof RunError ? error : new RunError(error instanceof Error ? error.message : String(error))

/** What makes a job one job for its run lock: its backups, and the checks of its repository, never overlap. */
export const runLockKey = (job: Job) => `${job.repository.describe}\n${job.snapshotHost}\n${job.backupPath}`

/**
 * One run of a job, under its run lock: pre-hook, create the repository if there is none, restic
 * backup, the guard against a lost volume, post-hook, retention. A failed pre-hook means no backup.
 * The post-hook runs whenever the run got past its start, even after a failure or SIGTERM, so that
 * whatever the pre-hook set up (a dump, a paused service) is undone; it learns the outcome from
 * RDS_RUN_STATUS. Retention, and the copy to a second repository (COPY_TO), run only after a
 * complete backup that the guard accepted.
 */
export async function runJob(job: Job, context: RunContext): Promise<RunResult> {
  let release: () => Promise<void>
  try {
    release = await takeRunLock(context.lockDir, runLockKey(job), job.name, context.log)
  } catch (error) {
    const runError = asRunError(error)
    context.log.error(runError.message)
    return { exitCode: runError.exitCode, error: runError, rejected: [] }
  }
  try {
    const { reporter } = context
    const { log, tail } = keepingTail(context.log)
    const previous = await reporter?.status(job.name)
    // The guard compares with accepted snapshots only, also those an append-only server could not tag.
    let rejected: string[]
    try {
      rejected = [...job.guard.rejected, ...((await reporter?.rejectedFor(job.name)) ?? [])]
    } catch (error) {
      const runError = asRunError(error)
      context.log.error(runError.message)
      return { exitCode: runError.exitCode, error: runError, rejected: [] }
    }
    const started = new Date()
    await reporter?.started(job.name, 'backup')
    const result = await runLocked({ ...job, guard: { ...job.guard, rejected } }, { ...context, log }, previous)
    await reporter?.finished({
      job: job.name,
      kind: 'backup',
      outcome: outcomeOf(started, new Date(), result.exitCode === 0, result.error?.message ?? describeResult(result), result.exitCode),
      ...(result.exitCode === 0 ? await snapshotsAfterRun(job, context, log, result) : {}),
      downtimeSeconds: result.downtimeSeconds,
      rejected: result.rejected,
      logTail: tail(),
    })
    return result
  } finally {
    await release()
  }
}

/** What a run backs up, for its first line: the path, the dump, or both. */
const describeTargets = (job: Job) =>
  [job.backupFiles ? job.backupPath : undefined, job.dump ? `a dump of ${job.dump.database ?? job.hooks.service} (${job.dump.filename})` : undefined].filter(Boolean).join(' and ')

const describeResult = (result: RunResult) => (result.summary ? describeSummary(result.summary) : 'backed up')

/**
 * The job's snapshots after a good run, for the status: the one just saved, and how many there are
 * now that retention has run. Only worth the lookup when there is a STATUS_FILE to keep them in.
 */
async function snapshotsAfterRun(job: Job, context: RunContext, log: Logger, result: RunResult) {
  const saved = result.summary?.snapshot_id
  if (!saved) return {}
  const snapshot = {
    id: saved,
    time: new Date().toISOString(),
    repository: job.repository.describe,
    files: result.summary!.total_files_processed,
    bytesAdded: result.summary!.data_added,
    bytesProcessed: result.summary!.total_bytes_processed,
  }
  if (!context.reporter?.recording) return { snapshot }
  const restic: Restic = { binary: context.resticBinary, repository: job.repository }
  const snapshots = await snapshotsOfHost(restic, job.snapshotHost, log).catch((error: Error) => log.warn(`status: could not count the snapshots: ${error.message}`))
  return { snapshot, snapshots: snapshots?.length }
}

/**
 * The locks a killed earlier run of this job left: STATUS_FILE recorded its start, in another
 * container (a host name restic cannot check), and never its end; as this run holds the job's run
 * lock, that run is over. Locks of this very host are restic's own to judge (`restic unlock`).
 */
function killedRunOwner(job: Job, previous: JobStatus | undefined): OwnerCheck {
  const killed = previous?.running
  return (lock) => {
    if (!killed?.hostname || lock.hostname !== killed.hostname || lock.hostname === hostname()) return undefined
    if (Date.parse(lock.time) < Date.parse(killed.since) - 60_000) return undefined
    return `made by a run of ${job.name} in container ${killed.hostname} that started at ${killed.since} and never ended (it was killed)`
  }
}

async function runLocked(job: Job, context: RunContext, previous: JobStatus | undefined): Promise<RunResult> {
  const { log } = context
  const restic: Restic = { binary: context.resticBinary, repository: job.repository, retryLock: context.retryLock, bandwidth: context.bandwidth, signal: context.signal }
  const ownerIsDead = killedRunOwner(job, previous)
  const started = Date.now()
  let failure: RunError | undefined
  let summary: BackupSummary | undefined
  let downtimeSeconds: number | undefined
  const rejected: string[] = []
  const fail = (error: unknown) => {
    if (error instanceof GuardRejection && error.snapshotId) rejected.push(error.snapshotId)
    const runError = asRunError(error)
    log.error(runError.message)
    failure ??= runError
  }
  const hookEnv = () => [`RDS_RUN_STATUS=${failure ? 'failure' : 'success'}`, `RDS_SNAPSHOT_ID=${summary?.snapshot_id ?? ''}`]
  // The post-hook is not given the run's signal: after SIGTERM it still undoes what the pre-hook did.
  const hook = async (name: string, variable: string, command: string, signal?: AbortSignal) =>
    runHook(await context.engine(), { name, variable, service: job.hooks.service ?? '', command, env: hookEnv(), timeout: job.hooks.timeout }, log, signal)

  log.info(`run: starting backup of ${describeTargets(job)} to ${job.repository.describe}`)
  // A container left paused by a killed run could run no hook, no dump, and serve nobody.
  if (job.stop === 'pause') await unpauseLeftovers(await context.engine(), job.hooks.service!, log).catch(fail)
  if (job.hooks.pre && !failure) await hook('pre-hook', 'PRE_HOOK', job.hooks.pre, context.signal).catch(fail)
  const startedWell = !failure

  let dumpSaved = job.dump === undefined
  if (job.dump && startedWell) {
    try {
      summary = await saveDump(job, job.dump, restic, context, previous, ownerIsDead)
      dumpSaved = true
    } catch (error) {
      fail(error)
    }
  }

  let filesSaved = !job.backupFiles
  if (job.backupFiles && startedWell && !context.signal?.aborted) {
    let unpause: (() => Promise<number>) | undefined
    try {
      if (job.stop === 'pause') unpause = await pauseService(await context.engine(), job.hooks.service!, log)
      const keep = (saved: BackupSummary) => {
        summary = saved
        log.info(`backup: ${describeSummary(saved)}`)
      }
      await saveGuarded(job, { kind: 'files', path: job.backupPath }, filesSource(job), restic, context, previous, ownerIsDead, keep)
      filesSaved = true
    } catch (error) {
      fail(error)
    } finally {
      if (unpause) downtimeSeconds = await unpause().catch((error) => void fail(error))
    }
  }
  const backupAccepted = startedWell && dumpSaved && filesSaved

  if (job.hooks.post) await hook('post-hook', 'POST_HOOK', job.hooks.post).catch(fail)
  // The controller reads this line from a job's log: retention then runs there too (docs/how-a-run-works.md: hooks).
  if (backupAccepted && failure) log.warn('run: the backup is complete and accepted; the run fails for what came after it')

  const forget = forgetArgs(job.retention, job.snapshotHost)
  if (forget && backupAccepted && !context.signal?.aborted) {
    try {
      log.info(`retention: ${forget.slice(1).join(' ')}`)
      await withLockCare(restic, ownerIsDead, log, async (locking) => {
        await forgetRejected(locking, log, { host: job.snapshotHost, rejected: [...job.guard.rejected, ...rejected] })
        await runRestic(locking, forget, { log })
      })
      log.info('retention: done')
    } catch (error) {
      fail(error)
    }
  }

  if (job.copyTo && backupAccepted && !context.signal?.aborted) {
    await withLockCare(restic, ownerIsDead, log, (locking) => copySnapshots(locking, { to: job.copyTo!.url, toPasswordFile: job.copyTo!.passwordFile, host: job.snapshotHost }, log)).catch(fail)
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (failure) {
    log.error(`run: failed after ${seconds} s${summary ? ` (snapshot ${summary.snapshot_id?.slice(0, 8)} was saved)` : ''}`)
    return { exitCode: failure.exitCode, error: failure, summary, downtimeSeconds, rejected }
  }
  log.info(`run: succeeded in ${seconds} s`)
  return { exitCode: EXIT.ok, summary, downtimeSeconds, rejected }
}
