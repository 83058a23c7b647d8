import { describeSummary, formatBytes, type BackupSummary } from '../restic/backup-summary.js'
import { findReference, GuardRejection, guardBackup, type Guarded } from './guard.js'
import { copySnapshots } from '../restic/copy.js'
import { EXIT, RunError } from '../errors.js'
import { describeDuration, goDurationMs } from '../config/duration.js'
import { runHook } from './hooks.js'
import type { HookEngine } from '../docker/engine.js'
import type { Job } from './job.js'
import type { Logger } from '../observe/log.js'
import { forgetArgs, forgetRejected } from '../restic/retention.js'
import { runRestic, type Restic } from '../restic/command.js'
import { vanished } from '../restic/init.js'
import { takeRunLock } from './run-lock.js'
import { withLockCare } from './stale-locks.js'
import type { OwnerCheck } from '../restic/locks.js'
import { hostname } from 'node:os'
import { watchForStall } from './stall-watch.js'
import { outcomeOf, type JobStatus } from '../observe/status.js'
import type { Reporter } from '../observe/reporter.js'
import { keepingTail } from '../observe/log.js'
import { snapshotsOfHost } from '../restic/snapshots.js'
import { dumpBackupArgs, dumpFailure, dumpStderrTail } from './dump.js'
import { DUMP_TAG } from '../dumps/presets.js'
import type { Dump } from '../dumps/presets.js'
import { pauseService, unpauseLeftovers } from './pause.js'
import { chooseHookContainer } from './hooks.js'

export interface RunContext {
  resticBinary: string
  retryLock?: string
  log: Logger
  /** Aborting stops the run: restic is sent SIGTERM, and no further step starts but the post-hook. */
  signal?: AbortSignal
  /** Called only when the job has hooks, so that a job without them needs no Docker engine. */
  engine: () => HookEngine | Promise<HookEngine>
  /** Where the job's run lock lives (LOCK_DIR): one run of a job at a time, across processes. */
  lockDir: string
  /** Where the run is recorded (STATUS_FILE) and notified, if anywhere. */
  reporter?: Reporter
}

export interface RunResult {
  exitCode: number
  error?: RunError
  /** The backup of the files, or of the dump for a job that has only a dump. */
  summary?: BackupSummary
  /** How long the service was paused for the backup (STOP_DURING_BACKUP=pause), in seconds. */
  downtimeSeconds?: number
  /** Snapshots the guard rejected in this run. */
  rejected: string[]
}

/** What one restic backup of a run reads: the job's files, or a dump on stdin. */
interface BackupSource {
  /** restic backup's arguments after its options: what to read. */
  args: string[]
  /** Told each line of restic's stderr. */
  onStderrLine?: (line: string) => void
}

const filesSource = (job: Job): BackupSource => ({ args: [...job.backupArgs, '--', job.backupPath] })

const asRunError = (error: unknown): RunError =>
  error instanceof RunError ? error : new RunError(error instanceof Error ? error.message : String(error))

/** Runs restic backup; onSummary sees the summary even of an incomplete snapshot (exit code 3). */
async function backup(
  job: Job,
  restic: Restic,
  context: RunContext,
  onSummary: (summary: BackupSummary) => void,
  source: BackupSource,
  expectedExitCodes?: number[],
) {
  const args = ['backup', '--json', '--host', job.snapshotHost]
  if (context.log.verbose) args.push('--verbose')
  args.push(...source.args)
  const watch = watchForStall(job.stallTimeout, restic.retryLock ? goDurationMs(restic.retryLock) : 0)
  const noProgress = (where: string | undefined) => `restic backup made no progress for ${describeDuration(job.stallTimeout)} (${where})`
  watch.signal.addEventListener('abort', () => context.log.warn(`backup: ${noProgress(watch.stalledAt())}; stopping it`))
  try {
    await runRestic(restic, args, {
      log: context.log,
      signal: AbortSignal.any([watch.signal, ...(context.signal ? [context.signal] : [])]),
      // Into a pipe, restic prints its --json status 60 times a second; the stall watch needs one.
      env: { RESTIC_PROGRESS_FPS: '1' },
      expectedExitCodes,
      onStderrLine: source.onStderrLine,
      onStdoutLine: (line) => {
        let message: ResticBackupMessage
        try {
          message = JSON.parse(line)
        } catch {
          context.log.debug(`restic: ${line}`)
          return
        }
        if (message.message_type === 'status') watch.progress(progressState(message), describeProgress(message))
        else if (message.message_type === 'summary') onSummary(message as BackupSummary)
        else if (message.message_type === 'verbose_status' && message.action !== 'unchanged') {
          context.log.debug(`restic: ${message.action} ${message.item}`)
        }
      },
    })
  } catch (error) {
    const where = watch.stalledAt()
    if (where === undefined || context.signal?.aborted) throw error
    throw new RunError(
      `${noProgress(where)} and was stopped; ` +
        `the server may be out of disk space or unreachable (STALL_TIMEOUT sets how long to wait).`,
    )
  } finally {
    watch.stop()
  }
}

/** What restic backup --json prints: progress, verbose lines, and the closing summary. */
type ResticBackupMessage = {
  message_type?: string
  action?: string
  item?: string
  files_done?: number
  total_files?: number
  bytes_done?: number
  total_bytes?: number
  current_files?: string[]
} & Partial<BackupSummary>

const progressState = (status: ResticBackupMessage) => [status.files_done, status.bytes_done, status.total_files, status.total_bytes].join('/')

function describeProgress(status: ResticBackupMessage): string {
  const at = `at ${formatBytes(status.bytes_done ?? 0)} of ${formatBytes(status.total_bytes ?? 0)}, ${status.files_done ?? 0} of ${status.total_files ?? 0} files`
  const current = status.current_files?.[0]
  return current ? `${at}, reading ${current}` : at
}

/**
 * Backs up, creating the repository first if, and only if, restic says there is none (exit code
 * 10), the job may create it (CREATE_REPOSITORY) and no snapshot of the job was recorded there.
 * Trying the backup first, rather than checking for the repository before every run, saves
 * opening the repository (a key derivation and an ssh connection) on every run but the first.
 */
async function backupCreatingRepository(
  job: Job,
  restic: Restic,
  context: RunContext,
  previous: JobStatus | undefined,
  onSummary: (summary: BackupSummary) => void,
  source: BackupSource,
) {
  try {
    await backup(job, restic, context, onSummary, source, [EXIT.noRepository])
  } catch (error) {
    if (!(error instanceof RunError) || error.exitCode !== EXIT.noRepository) throw error
    const saved = previous?.lastSnapshot
    const where = restic.repository.describe
    if (saved && saved.repository === where) throw vanished(where, { ...saved, by: job.name })
    if (job.createRepository === 'never') {
      throw new RunError(
        `there is no repository at ${where}, and this run may not create one (CREATE_REPOSITORY=never): ` +
          `with MODE=swarm the controller creates repositories before their first job; if it existed, the server's repository is gone or its disk is not mounted.`,
        EXIT.noRepository,
      )
    }
    context.log.info(`repository: none at ${where} yet, creating it`)
    await runRestic(restic, ['init'], { log: context.log })
    context.log.info('repository: created')
    await backup(job, restic, context, onSummary, source)
  }
}

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
    const started = new Date()
    await reporter?.started(job.name, 'backup')
    // The guard compares with accepted snapshots only, also those an append-only server could not tag.
    const rejected = [...job.guard.rejected, ...(previous?.rejectedSnapshots ?? [])]
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
  [job.backupFiles ? job.backupPath : undefined, job.dump ? `a dump of ${job.hooks.service} (${job.dump.filename})` : undefined].filter(Boolean).join(' and ')

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

/**
 * Backs up one source (the files, or the dump), then holds its snapshot against the guard, beside
 * a lookup of the snapshots it is compared with. onSummary sees the summary also when restic then
 * fails: an incomplete snapshot (exit code 3) was still saved.
 */
async function saveGuarded(
  job: Job,
  guarded: Guarded,
  source: BackupSource,
  restic: Restic,
  context: RunContext,
  previous: JobStatus | undefined,
  ownerIsDead: OwnerCheck,
  onSummary: (summary: BackupSummary) => void,
): Promise<BackupSummary | undefined> {
  const reference = findReference(job, guarded, restic, context.log)
  try {
    let saved: BackupSummary | undefined
    const keep = (summary: BackupSummary) => {
      saved = summary
      onSummary(summary)
    }
    await withLockCare(restic, ownerIsDead, context.log, (locking) => backupCreatingRepository(job, locking, context, previous, keep, source))
    if (saved) await guardBackup(job, guarded, restic, saved, await reference, context.log)
    return saved
  } finally {
    // Never left running behind the run; it cannot fail.
    await reference
  }
}

/**
 * Streams the dump from a container of the job's service into a snapshot of its own (tagged
 * dump), held against the service's last accepted dump; a dump that fails throws with its own
 * last words, and no snapshot of it is saved.
 */
async function saveDump(job: Job, dump: Dump, restic: Restic, context: RunContext, previous: JobStatus | undefined, ownerIsDead: OwnerCheck): Promise<BackupSummary | undefined> {
  const { log } = context
  const stderr = dumpStderrTail()
  const service = job.hooks.service!
  const { containerId } = await chooseHookContainer(await context.engine(), service)
  log.info(`dump: streaming ${dump.preset ?? 'DUMP_COMMAND'} from container ${containerId.slice(0, 12)} of ${service} into ${dump.filename}`)
  const source = { args: dumpBackupArgs(dump, containerId), onStderrLine: stderr.onStderrLine }
  const guarded: Guarded = { kind: 'dump', path: `/${dump.filename}`, tag: DUMP_TAG, service }
  const describe = (saved: BackupSummary) =>
    log.info(`dump: ${formatBytes(saved.total_bytes_processed)} saved as ${dump.filename} in snapshot ${saved.snapshot_id?.slice(0, 8)}, ${formatBytes(saved.data_added)} of it new`)
  return saveGuarded(job, guarded, source, restic, context, previous, ownerIsDead, describe).catch((error) => {
    const failedToRun = error instanceof RunError && !(error instanceof GuardRejection) && !context.signal?.aborted && error.exitCode !== EXIT.locked
    throw failedToRun ? dumpFailure(dump, error, stderr.tail()) : error
  })
}

async function runLocked(job: Job, context: RunContext, previous: JobStatus | undefined): Promise<RunResult> {
  const { log } = context
  const restic: Restic = { binary: context.resticBinary, repository: job.repository, retryLock: context.retryLock, signal: context.signal }
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
  // The controller reads this line from a job's log: retention then runs there too (README: post-hook).
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
