import { Cron } from 'croner'
import { spreadSchedule } from '../config/spread-schedule.js'
import { removeLeftoverJobs } from './job-service.js'
import { readSwarm, type SwarmService } from './cluster.js'
import { swarmJobLock } from '../run/run-lock.js'
import { awaitingTasks, describeChange, discoverJobs } from './discover.js'
import { followSwarmEvents } from '../docker/events.js'
import { lastAccepted } from '../restic/snapshots.js'
import { snapshotRecord } from '../observe/outcome.js'
import { overdueAfterMs } from '../observe/overdue.js'
import { restoreScaledServices } from './scale.js'
import type { ControllerOptions, ScheduledJob } from './controller-options.js'
import type { LastRun } from '../observe/jobs-file.js'
import { RepositoryWork } from './repository-work.js'
import { DownNodes } from './down-nodes.js'
import { ScaleMender } from './scale-mender.js'
import { runSwarmJob } from './swarm-run.js'
import { KeptNodeFinder } from './kept-nodes.js'
import { RunQueue } from './run-queue.js'
import { RetentionBatches } from './retention-batch.js'
import { Recheck } from './recheck.js'

export type { ControllerOptions, ScheduledJob } from './controller-options.js'

/**
 * The controller: discovers the labelled services of the Swarm, keeps a schedule for each, follows
 * Docker's events so that any change takes effect at once, and runs each backup as a Swarm job on
 * the node that holds the data. Retention runs here, one repository at a time, gathered (retention-batch.ts).
 */
export class Controller {
  readonly jobs = new Map<string, ScheduledJob>()
  /** The Swarm's services as the last discovery read them. */
  services: SwarmService[] = []
  /** Checks, drills, prunes and the retentions' queue of each repository. */
  private readonly repositories: RepositoryWork

  private readonly downNodes: DownNodes
  private readonly mender: ScaleMender
  private readonly keptNodes: KeptNodeFinder
  private readonly queue: RunQueue
  private readonly retentions: RetentionBatches
  private readonly recheck: Recheck

  constructor(private readonly options: ControllerOptions) {
    this.repositories = new RepositoryWork(options, () => [...this.jobs.values()].map(({ job }) => job))
    this.downNodes = new DownNodes(options.log, options.reporter)
    this.mender = new ScaleMender(options)
    this.keptNodes = new KeptNodeFinder(options, (keep, why) => void this.sync(why, keep))
    this.recheck = new Recheck((why) => void this.sync(why), () => options.stop.aborted || options.schedule === false)
    this.queue = new RunQueue(options.limits ?? { perNode: 1 }, options.log, () => options.onChange?.([...this.jobs.values()]), options.schedule !== false)
    this.retentions = new RetentionBatches(options, this.repositories, this.queue)
  }

  /** Runs until `stop` is aborted. */
  async run(): Promise<void> {
    const { docker, log, stop } = this.options
    await removeLeftoverJobs(docker, log)
    await restoreScaledServices(docker, log)
    await this.sync('start')
    this.options.reporter.keepHeartbeat(stop)
    const rebuilt = this.statusFromRepositories()
    const events = followSwarmEvents(docker, { log, signal: stop, onChange: (why) => this.sync(why), onReconnect: () => this.sync('reconnected to the Docker engine'), ignoreService: this.options.ownServiceId })
    await new Promise<void>((resolve) => {
      if (stop.aborted) resolve()
      else stop.addEventListener('abort', () => resolve(), { once: true })
    })
    await events
    this.recheck.reset()
    for (const scheduled of this.jobs.values()) scheduled.cron?.stop()
    this.repositories.stop()
    // First, so that a run waiting for its turn is never let start while the others are stopped.
    this.queue.close()
    const running = [...this.jobs.values()].filter((scheduled) => scheduled.running)
    if (running.length > 0) log.info(`controller: stopping ${running.length} running job(s)`)
    for (const scheduled of running) scheduled.stopRun?.abort()
    // A run that could not take its lock has said so where it was asked for.
    await Promise.allSettled(running.map((scheduled) => scheduled.running))
    // A check a run began while it waited (it may be creating the repository), and the copies, which end as stop says.
    await this.repositories.settled()
    await rebuilt
    // No discovery writes STATUS_FILE after the controller has stopped.
    await this.syncing
    log.info('controller: stopped')
  }

  private syncing: Promise<void> = Promise.resolve()

  /**
   * Discovers the jobs again and updates the schedules, one discovery at a time (after `before`,
   * if given, in the same queue); resolves to its error, if it failed.
   */
  sync(why: string, before?: () => Promise<void>): Promise<Error | undefined> {
    const discovered = this.syncing.then(async () => {
      // Nothing is discovered, scheduled or written once the controller has stopped.
      if (this.options.stop.aborted) return
      await before?.()
      await this.discover(why)
    }).then(
      () => undefined,
      (error: Error) => {
        this.options.log.error(`controller: could not read the Swarm's services (${why}): ${error.message}`)
        // What changed is not known yet: read again in a while, as for a task awaited.
        this.recheck.arm('after a discovery that failed')
        return error
      },
    )
    this.syncing = discovered.then(() => undefined)
    return discovered
  }

  private async discover(why: string): Promise<void> {
    const { docker, defaults } = this.options
    // Without schedules (one run asked for by hand) the schedules' changes are nobody's news.
    const log = this.options.schedule === false ? { ...this.options.log, info: () => undefined, error: () => undefined } : this.options.log
    const swarm = await readSwarm(docker)
    this.services = swarm.services
    const previous = [...this.jobs.values()].map(({ job }) => job)
    const found = discoverJobs(this.services, defaults, swarm.nodes, await this.options.reporter.keptNodes())
    const names = new Set(found.map((job) => job.name))
    for (const [name, scheduled] of this.jobs) {
      if (names.has(name)) continue
      scheduled.cron?.stop()
      // A run still waiting for its turn never starts: nothing of it is recorded.
      if (scheduled.queued) scheduled.stopRun?.abort()
      this.jobs.delete(name)
      // A service that ran nowhere yet and now runs on its nodes: each node's data is a job of its own.
      const perNode = found.filter((job) => job.service === scheduled.job.service && job.perNode).map((job) => job.name)
      log.info(`controller: ${name}: ${perNode.length > 0 && !scheduled.job.node ? `runs now as ${perNode.join(', ')}` : 'dropped'} (${why}); its snapshots are kept`)
    }
    for (const job of found) {
      const scheduled = this.jobs.get(job.name)
      if (!scheduled) {
        this.jobs.set(job.name, this.schedule({ job }))
        if (job.error) log.error(`controller: ${job.error}`)
        else log.info(`controller: ${job.name}: scheduled "${job.backup!.schedule}" on ${job.node?.nodeName ?? 'no node yet (no running task)'}, next run at ${this.jobs.get(job.name)!.cron?.nextRun()?.toISOString()} (${why})`)
        continue
      }
      const changes = describeChange(scheduled.job, job)
      if (changes.length === 0) continue
      const scheduleChanged = scheduled.job.backup?.schedule !== job.backup?.schedule
      scheduled.job = job
      if (scheduleChanged || job.error) {
        scheduled.cron?.stop()
        scheduled.cron = undefined
        this.schedule(scheduled)
      }
      if (job.error) log.error(`controller: ${job.error}`)
      else log.info(`controller: ${job.name}: ${changes.join(', ')}; next run at ${scheduled.cron?.nextRun()?.toISOString()} (${why})`)
    }
    this.options.onChange?.([...this.jobs.values()])
    this.repositories.schedule(found)
    await this.options.reporter.watch(
      found.map((job) => ({
        name: job.name,
        schedule: job.backup?.schedule,
        overdueAfterMs: overdueAfterMs(job.backup?.schedule ?? (this.options.defaults.runAt && spreadSchedule(this.options.defaults.runAt, job.name, 'RUN_AT')), job.backup?.overdueAfter ?? this.options.overdueAfter),
        error: job.error,
        copyTo: job.backup ? (job.backup.copyTo ?? []) : undefined,
        keptNode: job.perNode && job.node ? { service: job.service, nodeId: job.node.nodeId } : undefined,
        runsThere: job.perNode ? !job.taskGone && !job.unavailable : undefined,
      })),
    )
    if (this.options.schedule !== false) await this.downNodes.notice(swarm.nodes, [...previous, ...found])
    this.keptNodes.notice(swarm.services, swarm.nodes, found)
    // A task being (re)started sends no service event: while a labelled service has no running task, or tasks still starting, look again.
    if (awaitingTasks(this.services, found) && !this.options.stop.aborted) this.recheck.arm('a labelled service waited for its tasks')
    else this.recheck.reset()
    this.mender.mend(this.services, (service, nodeId) => [...this.jobs.values()].find(({ job }) => job.service === service && (nodeId === undefined || job.node?.nodeId === nodeId))?.job.name ?? (nodeId ? `${service}@${nodeId}` : service))
  }

  private schedule(scheduled: ScheduledJob): ScheduledJob {
    const schedule = scheduled.job.backup?.schedule
    if (schedule === undefined || scheduled.job.error || this.options.schedule === false) return scheduled
    scheduled.cron = new Cron(schedule, { catch: (error) => this.options.log.error(`controller: ${scheduled.job.name}: ${(error as Error).message}`) }, () => {
      this.runNow(scheduled.job.name).catch((error) => this.options.log.warn(`controller: ${scheduled.job.name}: skipped the run due now: ${(error as Error).message}`))
    })
    return scheduled
  }

  /** A restore drill of the job now, as its schedule makes it; undefined for a job that is not there. */
  drillNow(name: string): Promise<boolean | undefined> {
    return this.repositories.drillNow(name)
  }

  /**
   * A job with no recorded success (a new controller, or one moved to another manager) takes its
   * last good snapshot from its repository: the overdue clock starts there, not at this start.
   */
  private async statusFromRepositories(): Promise<void> {
    for (const { job } of this.jobs.values()) {
      if (!job.backup || this.options.stop.aborted || (await this.options.reporter.status(job.name))?.lastSuccess) continue
      try {
        const { snapshots, repository } = await this.options.snapshotsOf(job)
        const latest = lastAccepted(snapshots, await this.options.reporter.rejectedSnapshots())
        if (latest) await this.options.reporter.foundInRepository(job.name, snapshotRecord(latest, repository), snapshots.length)
      } catch (error) {
        this.options.log.warn(`controller: ${job.name}: could not read its last snapshot from the repository: ${(error as Error).message}`)
      }
    }
  }

  /**
   * One run of a job now, as a schedule tick makes it: resolves once it has ended. A job whose last
   * run is still going is not started again.
   */
  async runNow(name: string): Promise<LastRun | undefined> {
    const scheduled = this.jobs.get(name)
    if (!scheduled) return undefined
    if (scheduled.running) {
      this.options.log.warn(`controller: ${name}: skipped the run due now, because the previous run is still ${scheduled.queued ? 'waiting to start' : 'going'}`)
      return undefined
    }
    scheduled.stopRun = new AbortController()
    const context = { options: this.options, sync: (why: string) => this.sync(why), current: (job: string) => this.jobs.get(job)?.job, repositories: this.repositories, queue: this.queue, retentions: this.retentions }
    // The job's run lock is taken once its turn has come: a run by hand (rds backup --service) is not kept out by a run that waits.
    const lock = () => swarmJobLock(this.options.lockDir, name, this.options.log)
    scheduled.running = runSwarmJob(context, scheduled, scheduled.stopRun.signal, lock).finally(() => {
      scheduled.running = undefined
      this.options.onChange?.([...this.jobs.values()])
    })
    await scheduled.running
    return scheduled.last
  }
}
