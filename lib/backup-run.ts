import { copySnapshots } from './copy.js'
import { EXIT, RunError } from './errors.js'
import { runHook, type HookEngine } from './hooks.js'
import type { Job } from './job.js'
import type { Logger } from './log.js'
import { forgetArgs } from './retention.js'
import { runRestic, type Restic } from './restic.js'

export interface RunContext {
  resticBinary: string
  retryLock?: string
  log: Logger
  /** Aborting stops the run: restic is sent SIGTERM, and no further step starts but the post-hook. */
  signal?: AbortSignal
  /** Called only when the job has hooks, so that a job without them needs no Docker engine. */
  engine: () => HookEngine | Promise<HookEngine>
}

/** restic backup --json's closing message. */
export interface BackupSummary {
  snapshot_id?: string
  files_new: number
  files_changed: number
  files_unmodified: number
  data_added: number
  total_files_processed: number
  total_bytes_processed: number
  total_duration: number
}

export interface RunResult {
  exitCode: number
  error?: RunError
  summary?: BackupSummary
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

const asRunError = (error: unknown): RunError =>
  error instanceof RunError ? error : new RunError(error instanceof Error ? error.message : String(error))

/** Runs restic backup; onSummary sees the summary even of an incomplete snapshot (exit code 3). */
async function backup(
  job: Job,
  restic: Restic,
  context: RunContext,
  onSummary: (summary: BackupSummary) => void,
  expectedExitCodes?: number[],
) {
  const args = ['backup', '--json', '--host', job.snapshotHost]
  if (context.log.verbose) args.push('--verbose')
  args.push(...job.backupArgs, '--', job.backupPath)
  await runRestic(restic, args, {
    log: context.log,
    signal: context.signal,
    expectedExitCodes,
    onStdoutLine: (line) => {
      let message: { message_type?: string; action?: string; item?: string } & Partial<BackupSummary>
      try {
        message = JSON.parse(line)
      } catch {
        context.log.debug(`restic: ${line}`)
        return
      }
      if (message.message_type === 'summary') onSummary(message as BackupSummary)
      else if (message.message_type === 'verbose_status' && message.action !== 'unchanged') {
        context.log.debug(`restic: ${message.action} ${message.item}`)
      }
    },
  })
}

/**
 * Backs up, creating the repository first if, and only if, restic says there is none (exit code
 * 10). Trying the backup first, rather than checking for the repository before every run, saves
 * opening the repository (a key derivation and an ssh connection) on every run but the first.
 */
async function backupCreatingRepository(job: Job, restic: Restic, context: RunContext, onSummary: (summary: BackupSummary) => void) {
  try {
    await backup(job, restic, context, onSummary, [EXIT.noRepository])
  } catch (error) {
    if (!(error instanceof RunError) || error.exitCode !== EXIT.noRepository) throw error
    context.log.info(`repository: none at ${restic.repository.describe} yet, creating it`)
    await runRestic(restic, ['init'], { log: context.log, signal: context.signal })
    context.log.info('repository: created')
    await backup(job, restic, context, onSummary)
  }
}

function describeSummary(summary: BackupSummary): string {
  return (
    `snapshot ${summary.snapshot_id?.slice(0, 8)} saved: ${summary.total_files_processed} files ` +
    `(${summary.files_new} new, ${summary.files_changed} changed), ${formatBytes(summary.total_bytes_processed)} processed, ` +
    `${formatBytes(summary.data_added)} added, in ${summary.total_duration.toFixed(1)} s`
  )
}

/**
 * One run of a job: pre-hook, create the repository if there is none, restic backup, post-hook,
 * retention. A failed pre-hook means no backup. The post-hook runs whenever the run got past its
 * start, even after a failure, so that whatever the pre-hook set up (a dump, a paused service) is
 * undone; it learns the outcome from RDS_RUN_STATUS. Retention, and the copy to a second repository
 * (COPY_TO), run only after a complete backup.
 */
export async function runJob(job: Job, context: RunContext): Promise<RunResult> {
  const { log } = context
  const restic: Restic = { binary: context.resticBinary, repository: job.repository, retryLock: context.retryLock }
  const started = Date.now()
  let failure: RunError | undefined
  let summary: BackupSummary | undefined
  let backupComplete = false
  const fail = (error: unknown) => {
    const runError = asRunError(error)
    log.error(runError.message)
    failure ??= runError
  }
  const hookEnv = () => [`RDS_RUN_STATUS=${failure ? 'failure' : 'success'}`, `RDS_SNAPSHOT_ID=${summary?.snapshot_id ?? ''}`]
  const hook = async (name: string, variable: string, command: string) =>
    runHook(await context.engine(), { name, variable, service: job.hooks.service ?? '', command, env: hookEnv() }, log)

  log.info(`run: starting backup of ${job.backupPath} to ${job.repository.describe}`)
  if (job.hooks.pre) await hook('pre-hook', 'PRE_HOOK', job.hooks.pre).catch(fail)

  if (!failure) {
    try {
      await backupCreatingRepository(job, restic, context, (s) => (summary = s))
      backupComplete = true
      if (summary) log.info(`backup: ${describeSummary(summary)}`)
    } catch (error) {
      fail(error)
    }
  }

  if (job.hooks.post) await hook('post-hook', 'POST_HOOK', job.hooks.post).catch(fail)

  const forget = forgetArgs(job.retention, job.snapshotHost)
  if (forget && backupComplete && !context.signal?.aborted) {
    try {
      log.info(`retention: ${forget.slice(1).join(' ')}`)
      await runRestic(restic, forget, { log, signal: context.signal })
      log.info('retention: done')
    } catch (error) {
      fail(error)
    }
  }

  if (job.copyTo && backupComplete && !context.signal?.aborted) {
    await copySnapshots(restic, { to: job.copyTo.url, toPasswordFile: job.copyTo.passwordFile, host: job.snapshotHost }, log, context.signal).catch(fail)
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (failure) {
    log.error(`run: failed after ${seconds} s${summary ? ` (snapshot ${summary.snapshot_id?.slice(0, 8)} was saved)` : ''}`)
    return { exitCode: failure.exitCode, error: failure, summary }
  }
  log.info(`run: succeeded in ${seconds} s`)
  return { exitCode: EXIT.ok, summary }
}
