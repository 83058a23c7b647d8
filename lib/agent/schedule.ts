import { Cron } from 'croner'
import { runJob, type RunContext } from '../run/run.js'
import { runCheck } from '../run/check.js'
import { drillJob } from '../run/drill.js'
import type { Job } from '../run/job.js'
import { lastAccepted } from '../restic/snapshots.js'
import type { Logger } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import { snapshotRecord } from '../observe/outcome.js'
import { snapshotsOfHost } from '../restic/snapshots.js'
import { overdueAfterMs } from '../observe/overdue.js'

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
  const context = { ...options, signal: runController.signal }
  const checks = job.check ? sideSchedule('check', job.check.schedule, () => runCheck(job, context), log) : undefined
  const drills = job.drill.schedule ? sideSchedule('drill', job.drill.schedule, () => drillJob(job, context), log) : undefined
  if (options.reporter) await watchJob(job, options.reporter, options.resticBinary, log, stop)

  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve()
    else stop.addEventListener('abort', () => resolve(), { once: true })
  })
  cron.stop()
  const sideRuns = [checks, drills].map((side) => side?.stop())
  if (checks?.running() || drills?.running()) runController.abort()
  await Promise.all(sideRuns)
  if (current) {
    log.info('agent: stopping the running backup (restic removes its lock first)')
    runController.abort()
    await current
  }
  log.info('agent: stopped')
}

/**
 * A check's or a drill's schedule beside the backups': a tick that comes while the last one still
 * runs is skipped. `stop` ends the schedule and resolves once a running one has ended.
 */
function sideSchedule(what: string, schedule: string, run: () => Promise<unknown>, log: Logger) {
  let current: Promise<unknown> | undefined
  const cron = new Cron(schedule, { protect: true, catch: (error) => log.error(`${what}: ${(error as Error).message}`) }, async () => {
    current = run()
    await current
    current = undefined
  })
  log.info(`${what}: "${schedule}", next at ${cron.nextRun()?.toISOString()}`)
  return {
    running: () => current !== undefined,
    stop: async () => {
      cron.stop()
      await current
    },
  }
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
    const latest = lastAccepted(snapshots, [...job.guard.rejected, ...(await reporter.rejectedSnapshots())])
    if (latest) await reporter.foundInRepository(job.name, snapshotRecord(latest, job.repository.describe), snapshots.length)
  } catch (error) {
    log.warn(`status: could not read the last snapshot from the repository: ${(error as Error).message}`)
  }
}
