import { Cron } from 'croner'
import { removeLeftoverJobs, runJobService, VOLUMES_ROOT, type JobOutcome } from './job-service.js'
import { readSwarm, type SwarmNode, type SwarmService } from './cluster.js'
import { takeRunLock } from '../run/run-lock.js'
import { discoverJobs, type SwarmJob } from './discover.js'
import type { ServiceBackup } from './labels.js'
import type { Logger } from '../observe/log.js'
import { followSwarmEvents } from '../docker/events.js'
import { lastAccepted } from '../restic/snapshots.js'
import { keepingTail } from '../observe/log.js'
import { outcomeOf, snapshotRecord } from '../observe/status.js'
import { EXIT, type RunError } from '../errors.js'
import { overdueAfterMs } from '../observe/overdue.js'
import { restoreScaledServices, SCALED_FROM_LABEL, scaleBack, scaleDown } from './scale.js'
import type { ControllerOptions, ScheduledJob } from './controller-options.js'
import type { LastRun } from '../observe/jobs-file.js'
import { RepositoryWork } from './repository-work.js'

const RECHECK_FIRST_MS = 2000
const RECHECK_MAX_MS = 60_000

export type { ControllerOptions, ScheduledJob } from './controller-options.js'

/**
 * The environment of `rds backup` in a job: the controller's settings, then what the labels say,
 * and the snapshots of the job its guard rejected (which an append-only server may not tag).
 */
export function jobEnvironment(job: SwarmJob, controllerEnv: string[], rejected: string[] = []): string[] {
  const backup = job.backup!
  // STATUS_FILE empty: the controller records the run, and the job's container is thrown away.
  // CREATE_REPOSITORY=never: the controller decides about repositories (beforeRun), never a job.
  const env = [...controllerEnv, `SNAPSHOT_HOST=${job.name}`, `REPO_PATH=${backup.repoPath}`, 'STATUS_FILE=', 'CREATE_REPOSITORY=never']
  // A job with a dump and no volume backs up only the dump: BACKUP_PATH unset says so.
  if (backup.volumes.length > 0) env.push(`BACKUP_PATH=${VOLUMES_ROOT}`)
  // Each volume on its own: one emptied beside others that grew can hide in the totals.
  if (backup.volumes.length > 1) env.push(`GUARD_FOLDERS=${backup.volumes.map((volume) => volume.name).join(',')}`)
  if (needsDocker(backup)) env.push(`SERVICE_NAME=${job.service}`)
  if (backup.dump) env.push(`DUMP_COMMAND=${backup.dump.preset ?? backup.dump.command}`, `DUMP_FILENAME=${backup.dump.filename}`)
  if (backup.stop === 'pause') env.push('STOP_DURING_BACKUP=pause')
  if (rejected.length > 0) env.push(`REJECTED_SNAPSHOTS=${rejected.join(',')}`)
  if (backup.hooks.pre) env.push(`PRE_HOOK=${backup.hooks.pre}`)
  if (backup.hooks.post) env.push(`POST_HOOK=${backup.hooks.post}`)
  // Each pattern in double quotes, as BACKUP_ARGS is split like a shell would (labels refuse a quote in one).
  if (backup.excludes.length > 0) env.push(`BACKUP_ARGS=${backup.excludes.map((pattern) => `--exclude "${pattern}"`).join(' ')}`)
  return env
}

/** Whether a service's job execs into its containers (hooks, a dump, a pause), and so needs the Docker socket. */
export const needsDocker = (backup: ServiceBackup) => Boolean(backup.hooks.pre || backup.hooks.post || backup.dump || backup.stop === 'pause')

/** What changed between two discoveries of one job, in words; empty when nothing did. */
function describeChange(before: SwarmJob, after: SwarmJob): string[] {
  const changes: string[] = []
  if (before.error !== after.error && after.error) changes.push(after.error)
  if (before.backup?.schedule !== after.backup?.schedule && after.backup) changes.push(`schedule "${before.backup?.schedule ?? 'none'}" -> "${after.backup.schedule}"`)
  if (before.node?.nodeId !== after.node?.nodeId) changes.push(`node ${before.node?.nodeName ?? 'none'} -> ${after.node?.nodeName ?? 'none'}`)
  if (before.unavailable !== after.unavailable) changes.push(after.unavailable ?? `node ${after.node?.nodeName} can run it again`)
  if (before.backup && after.backup) {
    const changed = (Object.keys(after.backup) as (keyof ServiceBackup)[]).filter(
      (key) => key !== 'schedule' && JSON.stringify(before.backup![key]) !== JSON.stringify(after.backup![key]),
    )
    for (const key of changed) changes.push(`${key} ${JSON.stringify(before.backup[key])} -> ${JSON.stringify(after.backup[key])}`)
  }
  return changes
}

/**
 * The controller: discovers the labelled services of the Swarm, keeps a schedule for each, follows
 * Docker's events so that any change takes effect at once, and runs each backup as a Swarm job on
 * the node that holds the data. Retention runs here, one repository at a time.
 */
export class Controller {
  readonly jobs = new Map<string, ScheduledJob>()
  /** The Swarm's services as the last discovery read them. */
  services: SwarmService[] = []
  /** Checks, drills, prunes and the retentions' queue of each repository. */
  private readonly repositories: RepositoryWork

  constructor(private readonly options: ControllerOptions) {
    this.repositories = new RepositoryWork(options, () => [...this.jobs.values()].map(({ job }) => job))
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
    clearTimeout(this.recheck)
    for (const scheduled of this.jobs.values()) scheduled.cron?.stop()
    this.repositories.stop()
    const running = [...this.jobs.values()].filter((scheduled) => scheduled.running)
    if (running.length > 0) log.info(`controller: stopping ${running.length} running job(s)`)
    for (const scheduled of running) scheduled.stopRun?.abort()
    await Promise.all(running.map((scheduled) => scheduled.running))
    await rebuilt
    log.info('controller: stopped')
  }

  private syncing: Promise<void> = Promise.resolve()

  /** Discovers the jobs again and updates the schedules, one discovery at a time; resolves to its error, if it failed. */
  sync(why: string): Promise<Error | undefined> {
    const discovered = this.syncing.then(() => this.discover(why)).then(
      () => undefined,
      (error: Error) => {
        this.options.log.error(`controller: could not read the Swarm's services (${why}): ${error.message}`)
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
      this.jobs.delete(name)
      log.info(`controller: ${name}: dropped (${why}); its snapshots are kept`)
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
        overdueAfterMs: overdueAfterMs(job.backup?.schedule ?? this.options.defaults.runAt, job.backup?.overdueAfter ?? this.options.overdueAfter),
        error: job.error,
        keptNode: job.perNode && job.node ? { service: job.service, nodeId: job.node.nodeId } : undefined,
      })),
    )
    if (this.options.schedule !== false) await this.noticeDownNodes(swarm.nodes, [...previous, ...found])
    this.recheckWhileWaiting(found)
    this.mendScaledServices()
  }

  /** The nodes last seen down, so that each going down is told once. */
  private downNodes = new Set<string>()

  /**
   * A node that goes down is a warning and a failure of each job whose data is on it, at once
   * (notified as any failure), not when a backup of it next falls due.
   */
  private async noticeDownNodes(nodes: SwarmNode[], jobs: SwarmJob[]): Promise<void> {
    const down = new Set(nodes.filter((node) => node.state === 'down').map((node) => node.id))
    const newlyDown = nodes.filter((node) => down.has(node.id) && !this.downNodes.has(node.id))
    this.downNodes = down
    for (const node of newlyDown) {
      const names = [...new Set(jobs.filter((job) => job.backup && job.node?.nodeId === node.id).map((job) => job.name))].sort()
      if (names.length === 0) continue
      const message = `node ${node.name} went down: the data of ${names.join(', ')} on it cannot be backed up until the node is back.`
      this.options.log.warn(`controller: ${message}`)
      const now = new Date()
      for (const name of names) await this.options.reporter.finished({ job: name, kind: 'backup', outcome: outcomeOf(now, now, false, message, 1) })
    }
  }

  private mending = false

  /**
   * A service still labelled rds.scaled-from while no run of its job holds the job's run lock was
   * left at 0 by a scale-back that failed (or a run that was killed): it is scaled back now, and
   * at every later discovery until it holds. In the background: it may wait minutes for the tasks.
   */
  private mendScaledServices(): void {
    const left = this.services.filter((service) => service.serviceLabels[SCALED_FROM_LABEL] !== undefined)
    if (left.length === 0 || this.mending || this.options.schedule === false || this.options.stop.aborted) return
    this.mending = true
    void (async () => {
      for (const service of left) {
        const job = [...this.jobs.values()].find(({ job }) => job.service === service.name)?.job.name ?? service.name
        let release: (() => Promise<void>) | undefined
        try {
          release = await takeRunLock(this.options.lockDir, `swarm\n${job}`, job, this.options.log)
        } catch {
          continue // a run of it is going: it scales the service back itself
        }
        try {
          this.options.log.warn(`controller: ${service.name} is still scaled to 0 by a backup that has ended; scaling it back`)
          await scaleBack(this.options.docker, service.name, this.options.log)
        } catch (error) {
          this.options.log.error(`controller: could not scale ${service.name} back: ${(error as Error).message}; trying again at the next change in the Swarm`)
        } finally {
          await release()
        }
      }
    })().finally(() => (this.mending = false))
  }

  private recheck?: NodeJS.Timeout
  private recheckMs = RECHECK_FIRST_MS

  /**
   * A task being (re)started sends no service event, so while a labelled service has no running
   * task, its placement is read again after a while (2 s, doubling to a minute).
   */
  private recheckWhileWaiting(found: SwarmJob[]): void {
    if (!found.some((job) => job.backup && !job.node) || this.options.stop.aborted) {
      this.recheckMs = RECHECK_FIRST_MS
      return
    }
    if (this.recheck) return
    this.recheck = setTimeout(() => {
      this.recheck = undefined
      void this.sync('a labelled service had no running task')
    }, this.recheckMs)
    this.recheckMs = Math.min(this.recheckMs * 2, RECHECK_MAX_MS)
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
      this.options.log.warn(`controller: ${name}: skipped the run due now, because the previous run is still going`)
      return undefined
    }
    // Throws a RunError (exit code 11) while another process runs this job.
    const release = await takeRunLock(this.options.lockDir, `swarm\n${name}`, name, this.options.log)
    scheduled.stopRun = new AbortController()
    scheduled.running = this.runJob(scheduled, scheduled.stopRun.signal).finally(async () => {
      await release()
      scheduled.running = undefined
      this.options.onChange?.([...this.jobs.values()])
    })
    await scheduled.running
    return scheduled.last
  }

  private async runJob(scheduled: ScheduledJob, signal: AbortSignal): Promise<void> {
    const { docker, template, jobEnv, reporter } = this.options
    const { log, tail } = keepingTail(this.options.log)
    const job = scheduled.job
    const started = new Date()
    let backupStartedAt: string | undefined
    let saved: { snapshot?: ReturnType<typeof snapshotRecord>; snapshots?: number } = {}
    let downtimeSeconds: number | undefined
    let rejected: string[] | undefined
    const finish = async (ok: boolean, message: string, exitCode?: number) => {
      scheduled.last = { startedAt: started.toISOString(), backupStartedAt, finishedAt: new Date().toISOString(), ok, message }
      if (ok) log.info(`controller: ${job.name}: ${message}`)
      else log.error(`controller: ${job.name}: ${message}`)
      await reporter.finished({ job: job.name, kind: 'backup', outcome: outcomeOf(started, new Date(), ok, message, exitCode ?? (ok ? 0 : 1)), ...saved, downtimeSeconds, rejected, logTail: tail() })
    }
    // Where the service runs now: a task may have moved since the last discovery.
    const unread = job.error ? undefined : await this.sync('before a run')
    const current = unread ? job : this.jobs.get(job.name)?.job
    // Gone since the last discovery (its service removed or unlabelled, its node forgotten): nothing to record.
    if (!current) return log.info(`controller: ${job.name}: dropped before its run`)
    await reporter.started(job.name, 'backup')
    if (job.error) return finish(false, job.error, 2)
    if (unread) return finish(false, `could not read where service ${job.service} runs now (${unread.message}); the run is skipped rather than started on a node that may no longer hold its data.`)
    if (current.unavailable) return finish(false, current.unavailable)
    if (!current.node) return finish(false, `service ${current.service} has no running task, so there is nothing to back up; the run is skipped.`)
    try {
      await this.options.beforeRun?.(current)
    } catch (error) {
      // A repository that vanished fails the run; anything else the job meets again, and says.
      if ((error as RunError).exitCode === EXIT.noRepository) return finish(false, (error as Error).message, EXIT.noRepository)
      log.warn(`controller: ${job.name}: could not check its repository: ${(error as Error).message}`)
    }
    log.info(`controller: ${job.name}: starting on ${current.node.nodeName}`)
    const scale = current.backup!.stop === 'scale'
    let outcome: JobOutcome | undefined
    let startFailure: string | undefined
    let scaledDownAt: number | undefined
    let scaleFailure: string | undefined
    try {
      if (scale) {
        scaledDownAt = Date.now()
        await scaleDown(docker, current.service, log)
      }
      // Stopped while the service was being scaled down: no job starts, and the service comes back.
      outcome = signal.aborted
        ? { reason: 'stopped' }
        : await runJobService(docker, template, this.options.ledger, { name: current.name, nodeId: current.node.nodeId, volumes: current.backup!.volumes, env: jobEnvironment(current, jobEnv, (await reporter.status(current.name))?.rejectedSnapshots), maxRunMs: current.backup!.maxRunTime, docker: needsDocker(current.backup!) }, log, signal)
    } catch (error) {
      startFailure = `the job could not be started: ${(error as Error).message}`
    } finally {
      // Whatever happened to the backup, also when the controller is being stopped.
      if (scaledDownAt !== undefined) {
        await scaleBack(docker, current.service, log).catch((error: Error) => (scaleFailure = error.message))
        downtimeSeconds = (Date.now() - scaledDownAt) / 1000
        log.info(`controller: ${job.name}: ${current.service} was scaled to 0 for ${downtimeSeconds.toFixed(1)} s (downtime)`)
      }
    }
    downtimeSeconds ??= outcome?.downtimeSeconds
    rejected = outcome?.rejectedSnapshots
    backupStartedAt = outcome?.backupStartedAt
    const seconds = ((Date.now() - started.getTime()) / 1000).toFixed(1)
    // Neither failure hides the other: the service left at 0 and what became of the backup.
    const backupResult = !outcome ? startFailure! : outcome.exitCode === 0 ? 'the backup itself succeeded' : outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `the backup failed with exit code ${outcome.exitCode}`
    if (scaleFailure) return finish(false, `${current.service} was not scaled back after the backup: ${scaleFailure}; ${backupResult}.`, outcome?.exitCode || undefined)
    if (!outcome) return finish(false, startFailure!)
    // A run that failed after a complete, accepted backup (its post-hook) still has its retention, as in MODE=service.
    if (outcome.exitCode !== 0 && !outcome.backupAccepted) {
      return finish(false, outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `the backup failed with exit code ${outcome.exitCode} after ${seconds} s; its log is above.`, outcome.exitCode)
    }
    try {
      // The verdicts recorded, and this run's (recorded only when it is reported, below).
      const verdicts = [...(await reporter.rejectedSnapshots()), ...(rejected ?? [])]
      await this.repositories.inRetentionQueue(current.backup!.repoPath, () => this.options.applyRetention(current, verdicts))
    } catch (error) {
      return finish(false, `backed up, but retention failed: ${(error as Error).message}`)
    }
    saved = await this.savedSnapshot(current, log)
    if (outcome.exitCode !== 0) {
      const after = outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `it failed with exit code ${outcome.exitCode}`
      return finish(false, `backed up on ${current.node.nodeName} in ${seconds} s, but what came after the backup failed (${after}); its log is above.`, outcome.exitCode)
    }
    await finish(true, `backed up on ${current.node.nodeName} in ${seconds} s`)
  }

  /** What the job saved, as its repository says (the job's own summary stays in the job). */
  private async savedSnapshot(job: SwarmJob, log: Logger): Promise<{ snapshot?: ReturnType<typeof snapshotRecord>; snapshots?: number }> {
    try {
      const { snapshots, repository } = await this.options.snapshotsOf(job)
      const latest = lastAccepted(snapshots, await this.options.reporter.rejectedSnapshots())
      return { snapshot: latest && snapshotRecord(latest, repository), snapshots: snapshots.length }
    } catch (error) {
      log.warn(`controller: ${job.name}: could not read its snapshots for the status: ${(error as Error).message}`)
      return {}
    }
  }

}
