import { Cron } from 'croner'
import type { Logger } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import { outcomeOf } from '../observe/outcome.js'
import type { Restic } from '../restic/command.js'
import type { SwarmService } from '../swarm/cluster.js'
import type { SwarmJob } from '../swarm/discover.js'
import type { LabelDefaults } from '../swarm/labels.js'
import { EXIT, type RunError } from '../errors.js'
import { takeRunLock } from '../run/run-lock.js'
import { findSavedStack } from './definitions.js'
import { holdBackupsOf } from './hold-backups.js'
import { rehearseStack } from './rehearsal.js'
import type { SwarmJobs } from './volume-job.js'

/** What a rehearsal needs of the controller: the Swarm, its jobs and services, where definitions are, and where results go. */
export interface RehearsalContext {
  deps: SwarmJobs & { resticFor: (repoPath: string) => Restic }
  /** Where the jobs' run locks are, which a rehearsal holds while it restores. */
  lockDir: string
  jobs: SwarmJob[]
  services: SwarmService[]
  repoPaths: string[]
  defaults: LabelDefaults
  rejected: readonly string[]
  env: Record<string, string | undefined>
  reporter: Reporter
}

/** The stacks that have a labelled service: what REHEARSE_AT rehearses. */
export const rehearsedStacks = (context: Pick<RehearsalContext, 'jobs' | 'services'>) =>
  [...new Set(context.services.filter((service) => service.stack && context.jobs.some((job) => job.backup && job.service === service.name)).map((service) => service.stack!))].sort()

/**
 * What a rehearsal of a stack holds from its start to its end: a second one at once (REHEARSE_AT
 * and one by hand) would remove the first's copy as what a cut-off rehearsal left.
 */
export const rehearsalLock = (lockDir: string, stack: string, log: Logger) => takeRunLock(lockDir, `rehearsal\n${stack}`, `the rehearsal of stack ${stack}`, log)

/**
 * Rehearses one stack (rehearseStack) and records the result for each of its labelled services, as
 * a drill's is: in the status, the metrics and the notifications. A stack whose definitions cannot
 * be found fails its rehearsal the same way. One that finds another rehearsal of the stack going
 * is not started, and not recorded: a RunError with exit code 11.
 */
export async function rehearseAndRecord(context: RehearsalContext, stack: string, log: Logger, signal?: AbortSignal): Promise<{ ok: boolean; report: string[] }> {
  const release = await rehearsalLock(context.lockDir, stack, log)
  try {
    return await rehearseAndRecordHeld(context, stack, log, signal)
  } finally {
    await release()
  }
}

async function rehearseAndRecordHeld(context: RehearsalContext, stack: string, log: Logger, signal?: AbortSignal): Promise<{ ok: boolean; report: string[] }> {
  const ofStack = new Set(context.services.filter((service) => service.stack === stack).map((service) => service.name))
  const jobs = context.jobs.filter((job) => job.backup && ofStack.has(job.service))
  const probes = new Map(jobs.filter((job) => job.backup!.rehearseProbe).map((job) => [job.service, { command: job.backup!.rehearseProbe!, repoPath: job.backup!.repoPath }]))
  const started = new Date()
  let result: { ok: boolean; report: string[] }
  let message: string
  try {
    const saved = await findSavedStack(context.deps.resticFor, context.repoPaths, stack, undefined, log)
    const holdBackups = () => holdBackupsOf(context.lockDir, jobs, log, signal)
    result = await rehearseStack(context.deps, saved, { stack, env: context.env, defaults: context.defaults, rejected: context.rejected, probes, holdBackups }, log, signal)
    const failures = result.report.filter((line) => /FAILED|could not/.test(line))
    message = result.ok ? `a copy of stack ${stack} from its backups of ${saved.snapshot.time} ran${probes.size > 0 ? ', its probes passed' : ''}` : `the rehearsal of stack ${stack} failed: ${failures.join('; ')}`
  } catch (error) {
    result = { ok: false, report: [`FAILED: ${(error as Error).message}`] }
    message = `the rehearsal of stack ${stack} failed: ${(error as Error).message}`
  }
  for (const job of jobs) await context.reporter.finished({ job: job.name, kind: 'rehearsal', outcome: outcomeOf(started, new Date(), result.ok, message, result.ok ? 0 : 1) })
  return result
}

/**
 * REHEARSE_AT: at each time, every stack that has a labelled service is rehearsed, one after
 * another (each is a whole copy on the Swarm); a time that comes while the last ones still go is
 * skipped (croner's protect). Stopped with `stop`.
 */
export function scheduleRehearsals(at: string, contextOf: () => Promise<RehearsalContext>, log: Logger, stop: AbortSignal): Cron {
  const cron = new Cron(at, { protect: true, catch: (error) => log.error(`controller: rehearsals: ${(error as Error).message}`) }, async () => {
    const context = await contextOf()
    for (const stack of rehearsedStacks(context)) {
      if (stop.aborted) return
      const rehearsed = await rehearseAndRecord(context, stack, log, stop).catch((error: RunError) => {
        if (error.exitCode !== EXIT.locked) throw error
        log.warn(`controller: rehearsal of stack ${stack} skipped: ${error.message}`)
      })
      if (!rehearsed) continue
      const { ok, report } = rehearsed
      if (ok) log.info(`controller: rehearsal of stack ${stack} passed`)
      else log.error(`controller: rehearsal of stack ${stack} FAILED: ${report.join('; ')}`)
    }
  })
  stop.addEventListener('abort', () => cron.stop(), { once: true })
  log.info(`controller: stacks rehearsed "${at}" (REHEARSE_AT), next at ${cron.nextRun()?.toISOString()}`)
  return cron
}
