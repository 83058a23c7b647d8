import { formatBytes, type BackupSummary } from '../restic/backup-summary.js'
import { EXIT, RunError } from '../errors.js'
import { describeDuration, goDurationMs } from '../config/duration.js'
import type { Job } from './job.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { vanished } from '../restic/init.js'
import { watchForStall } from './stall-watch.js'
import type { JobStatus } from '../observe/status.js'

/** What a backup needs of its run: where to log, and the signal that stops it. */
interface BackupContext {
  log: Logger
  signal?: AbortSignal
}

/** What one restic backup of a run reads: the job's files, or a dump on stdin. */
export interface BackupSource {
  /** restic backup's arguments after its options: what to read. */
  args: string[]
  /** Told each line of restic's stderr. */
  onStderrLine?: (line: string) => void
}

export const filesSource = (job: Job): BackupSource => ({ args: [...job.tags.flatMap((tag) => ['--tag', tag]), ...job.backupArgs, '--', job.backupPath] })

/** Runs restic backup; onSummary sees the summary even of an incomplete snapshot (exit code 3). */
async function backup(
  job: Job,
  restic: Restic,
  context: BackupContext,
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
export async function backupCreatingRepository(
  job: Job,
  restic: Restic,
  context: BackupContext,
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
