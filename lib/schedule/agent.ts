import { Cron } from 'croner'
import { runJob, type RunContext } from '../jobs/run.js'
import type { Job } from '../jobs/job.js'

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

  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve()
    else stop.addEventListener('abort', () => resolve(), { once: true })
  })
  cron.stop()
  if (current) {
    log.info('agent: stopping the running backup (restic removes its lock first)')
    runController.abort()
    await current
  }
  log.info('agent: stopped')
}
