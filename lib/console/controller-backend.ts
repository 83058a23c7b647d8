import type { Controller } from '../swarm/controller.js'
import type { Logger } from '../observe/log.js'
import { readStatus, rejectedIn, stateOf, type JobStatus } from '../observe/status.js'
import type { Config } from '../config/environment.js'
import { RunError } from '../errors.js'
import { restoreService, type RestoreDeps } from '../recover/service-restore.js'
import type { CoverageRow } from '../swarm/coverage.js'
import { surveyCoverage } from '../swarm/coverage-survey.js'
import type { ConsoleBackend, JobView } from './backend.js'

/** What the console reaches the Swarm and the repositories with, as the controller's commands do. */
export type ConsoleSwarm = Omit<RestoreDeps, 'lockDir'>

/** The console's view of the scheduling controller, in the same process: its jobs, their repositories and runs. */
export function controllerBackend(controller: Controller, swarm: ConsoleSwarm, config: Pick<Config, 'statusFile' | 'rejectedSnapshots' | 'lockDir'>, log: Logger): ConsoleBackend {
  const { resticFor } = swarm
  const { statusFile } = config
  // One survey at a time, whoever asks: each runs a job on every node.
  let surveying: Promise<CoverageRow[]> | undefined
  const rejectedNow = async () => [...config.rejectedSnapshots, ...(statusFile ? rejectedIn(await readStatus(statusFile)) : [])]
  return {
    async jobs(): Promise<JobView[]> {
      const table = statusFile ? await readStatus(statusFile) : undefined
      const now = new Date()
      return [...controller.jobs.values()].map(({ job, cron, running, queued }) => {
        const status: JobStatus | undefined = table?.jobs[job.name]
        const state = job.error ? 'LABEL ERROR' : running && !queued ? 'RUNNING' : status ? stateOf(status, now) : 'WAITING'
        return {
          name: job.name,
          service: job.service,
          node: job.node?.nodeName,
          repository: job.backup?.repoPath,
          schedule: job.backup?.schedule,
          nextRun: cron?.nextRun()?.toISOString(),
          state,
          queued,
          unavailable: job.unavailable,
          status: status && { ...status, error: job.error ?? status.error },
        }
      })
    },
    resticOf(name) {
      const backup = controller.jobs.get(name)?.job.backup
      return backup && resticFor(backup.repoPath)
    },
    backupNow(name) {
      const scheduled = controller.jobs.get(name)
      if (!scheduled) return undefined
      if (scheduled.job.error) return `its labels are wrong: ${scheduled.job.error}`
      if (scheduled.running) return `a run of ${name} is ${scheduled.queued ? 'waiting to start' : 'going'}; wait for it to end.`
      controller.runNow(name).catch((error: Error) => log.error(`console: the run of ${name} asked for failed to start: ${error.message}`))
      return 'started'
    },
    async restoreInPlace(name, snapshot, signal) {
      // The Swarm as it is now, as rds restore --service reads it.
      const failed = await controller.sync('an in-place restore from the console')
      if (failed) throw failed
      const job = controller.jobs.get(name)?.job
      const service = job && controller.services.find((candidate) => candidate.name === job.service)
      if (!job || !service) throw new RunError(`there is no job ${name} any more; the console's overview lists the jobs.`)
      if (job.error) throw new RunError(job.error)
      await restoreService({ ...swarm, lockDir: config.lockDir }, { job, service, snapshot, includes: [], rejected: await rejectedNow() }, log, signal)
      return `service ${job.service} restored in place from snapshot ${snapshot.slice(0, 8)}`
    },
    coverage() {
      surveying ??= (async () => {
        const rejected = await rejectedNow()
        const jobs = [...controller.jobs.values()].map(({ job }) => job)
        return surveyCoverage({ ...swarm, jobs, services: controller.services, statusFile, rejected, log })
      })().finally(() => (surveying = undefined))
      return surveying
    },
  }
}
