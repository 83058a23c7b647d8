import { Cron } from 'croner'
import { runJob, type RunContext } from '../jobs/run.js'
import { runCheck } from '../jobs/check.js'
import { drillJob } from '../jobs/drill.js'
import type { Job } from '../jobs/job.js'
import { lastAccepted } from '../jobs/guard.js'
import type { Logger } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import { snapshotRecord } from '../observe/status.js'
import { snapshotsOfHost } from '../restic/snapshots.js'
import { overdueAfterMs } from './overdue.js'

export interface AgentOptions extends Omit<RunContext, 'signal'> {
  /** Aborting stops the agent: no new run starts, a running one is stopped cleanly, then it resolves. */
  stop: AbortSignal
}

/**
 * Runs the job on every tick of its schedule until stopped. Runs never overlap: a tick that comes
 * while a run is still going is skipped and logged.
 */
export async function runAgent(job: Job, options: AgentOptions): Promise<void> {
  const { log, stop } = options
  if (!job.schedule) throw new Error('runAgent needs a job with a schedule')
  let current: Promise<unknown> | undefined
  const runController = new AbortController()
  const runAndReport = async () => {
    await runJob(job, { ...options, signal: runController.signal })
    if (!stop.aborted) log.info(`schedule: next run at ${cron.nextRun()?.toISOString()}`)
  }

  const cron = new Cron(
    job.schedule,
    {
      protect: () => log.warn(`schedule: skipped the run due now, because the previous run of ${job.name} is still going`),
      catch: (error) => log.error(`schedule: ${error instanceof Error ? error.message : String(error)}`),
    },
    async () => {
      current = runAndReport()
      await current
      current = undefined
    },
  )
  log.info(`schedule: "${job.schedule}", next run at ${cron.nextRun()?.toISOString()}`)
  let checking: Promise<unknown> | undefined
  const checks = job.check
    ? new Cron(job.check.schedule, { protect: true, catch: (error) => log.error(`check: ${(error as Error).message}`) }, async () => {
        checking = runCheck(job, { ...options, signal: runController.signal })
        await checking
        checking = undefined
      })
    : undefined
  if (checks) log.info(`check: "${job.check!.schedule}", next check at ${checks.nextRun()?.toISOString()}`)
  let drilling: Promise<unknown> | undefined
  const drills = job.drill.schedule
    ? new Cron(job.drill.schedule, { protect: true, catch: (error) => log.error(`drill: ${(error as Error).message}`) }, async () => {
        drilling = drillJob(job, { ...options, signal: runController.signal })
        await drilling
        drilling = undefined
      })
    : undefined
  if (drills) log.info(`drill: "${job.drill.schedule}", next drill at ${drills.nextRun()?.toISOString()}`)
  if (options.reporter) await watchJob(job, options.reporter, options.resticBinary, log, stop)

  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve()
    else stop.addEventListener('abort', () => resolve(), { once: true })
  })
  cron.stop()
  checks?.stop()
  drills?.stop()
  if (checking || drilling) {
    runController.abort()
    await Promise.all([checking, drilling])
  }
  if (current) {
    log.info('agent: stopping the running backup (restic removes its lock first)')
    runController.abort()
    await current
  }
  log.info('agent: stopped')
}

/**
 * Records the job in STATUS_FILE with its overdue limit and keeps the heartbeat. A job with no
 * recorded success (a new container) takes its last one from the repository, so that a failure
 * before the restart is not forgotten, nor a good backup taken for none.
 */
async function watchJob(job: Job, reporter: Reporter, resticBinary: string, log: Logger, stop: AbortSignal): Promise<void> {
  await reporter.watch([{ name: job.name, schedule: job.schedule, overdueAfterMs: overdueAfterMs(job.schedule, job.overdueAfter) }])
  reporter.keepHeartbeat(stop)
  if (!reporter.recording || (await reporter.status(job.name))?.lastSuccess) return
  try {
    const snapshots = await snapshotsOfHost({ binary: resticBinary, repository: job.repository, signal: stop }, job.snapshotHost, log)
    const latest = lastAccepted(snapshots)
    if (latest) await reporter.foundInRepository(job.name, snapshotRecord(latest, job.repository.describe), snapshots.length)
  } catch (error) {
    log.warn(`status: could not read the last snapshot from the repository: ${(error as Error).message}`)
  }
}
