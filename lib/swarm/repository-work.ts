import { Cron } from 'croner'
import pLimit, { type LimitFunction } from 'p-limit'
import type { SwarmJob } from './discover.js'
import { keepingTail } from '../observe/log.js'
import { type Outcome } from '../observe/status.js'
import { outcomeOf } from '../observe/outcome.js'
import { formatBytes } from '../restic/backup-summary.js'
import type { RunError } from '../errors.js'
import type { ControllerOptions } from './controller-options.js'
import { copiesRetention } from '../config/repositories.js'

/**
 * How many restic processes the controller runs at once into one repository around its runs (their
 * definitions saved, their snapshots read): each opens its own connection, and an SSH server refuses
 * many at once (OpenSSH drops some beyond MaxStartups, 10 by default), as fifty runs of a night
 * ending together would make.
 */
const RESTIC_AT_ONCE = 4

/**
 * What the controller runs on a repository rather than for one service: its retentions' queue,
 * and the schedules of its checks, its services' drills and its prune. Everything that locks a
 * repository runs in its queue, one at a time: they would fight over its lock.
 */
export class RepositoryWork {
  private readonly queues = new Map<string, Promise<void>>()
  /** The checks' schedules, one per repository and schedule. */
  private readonly checks = new Map<string, Cron>()
  /** The drills' schedules, one per job and schedule. */
  private readonly drills = new Map<string, Cron>()
  /** The prunes' schedules, one per repository that a service asks to prune. */
  private readonly prunes = new Map<string, Cron>()

  constructor(
    private readonly options: ControllerOptions,
    /** The jobs the controller holds now. */
    private readonly jobs: () => SwarmJob[],
  ) {}

  /** The schedules for the jobs discovered now. */
  schedule(found: SwarmJob[]): void {
    this.scheduleChecks(found)
    this.scheduleDrills(found)
    this.schedulePrunes(found)
  }

  /** Stops every schedule (the controller is stopping). */
  stop(): void {
    for (const cron of [...this.checks.values(), ...this.drills.values(), ...this.prunes.values()]) cron.stop()
  }

  /** One check schedule per repository and schedule: services that share a repository share its checks. */
  private scheduleChecks(found: SwarmJob[]): void {
    if (this.options.schedule === false || !this.options.checkRepository) return
    const wanted = new Map<string, { repoPath: string; schedule: string }>()
    for (const job of found) {
      // Its copies' repositories too: a copy nobody checks may be damaged when it is needed.
      for (const repoPath of job.backup?.checkAt ? [job.backup.repoPath, ...(job.backup.copyTo ?? [])] : []) wanted.set(`${repoPath}\n${job.backup!.checkAt}`, { repoPath, schedule: job.backup!.checkAt! })
    }
    for (const [key, cron] of this.checks) {
      if (wanted.has(key)) continue
      cron.stop()
      this.checks.delete(key)
    }
    for (const [key, { repoPath, schedule }] of wanted) {
      if (this.checks.has(key)) continue
      this.checks.set(key, new Cron(schedule, { protect: true, catch: (error) => this.options.log.error(`controller: check of ${repoPath}: ${(error as Error).message}`) }, async () => void (await this.checkNow(repoPath))))
      this.options.log.info(`controller: repository ${repoPath}: checked "${schedule}", next at ${this.checks.get(key)!.nextRun()?.toISOString()}`)
    }
  }

  /**
   * One prune per repository a service asks to prune (rds.backup.prune, PRUNE), on PRUNE_AT: the
   * services' own forgets only mark snapshots, and the repository-wide prune, which locks the
   * repository whole, runs once for all of them rather than once per service.
   */
  private schedulePrunes(found: SwarmJob[]): void {
    if (this.options.schedule === false || !this.options.pruneRepository || !this.options.pruneAt) return
    // A copy's repository is pruned with the service, or as its own retention says.
    const pruned = (job: SwarmJob, destination: string) => copiesRetention(this.options.copyRetention?.(destination), job.backup!.retention).prune
    const wanted = new Set(found.flatMap((job) => (job.backup ? [...(job.backup.retention.prune ? [job.backup.repoPath] : []), ...(job.backup.copyTo ?? []).filter((destination) => pruned(job, destination))] : [])))
    for (const [repoPath, cron] of this.prunes) {
      if (wanted.has(repoPath)) continue
      cron.stop()
      this.prunes.delete(repoPath)
    }
    for (const repoPath of wanted) {
      if (this.prunes.has(repoPath)) continue
      this.prunes.set(repoPath, new Cron(this.options.pruneAt, { protect: true, catch: (error) => this.options.log.error(`controller: prune of ${repoPath}: ${(error as Error).message}`) }, async () => void (await this.pruneNow(repoPath))))
      this.options.log.info(`controller: repository ${repoPath}: pruned "${this.options.pruneAt}", next at ${this.prunes.get(repoPath)!.nextRun()?.toISOString()}`)
    }
  }

  /** restic prune of one repository now, between its retentions and checks; recorded and notified like a check. */
  async pruneNow(repoPath: string): Promise<Outcome> {
    const { log: baseLog, reporter } = this.options
    const { log, tail } = keepingTail(baseLog)
    const started = new Date()
    const jobs = this.jobs().filter((job) => job.backup?.repoPath === repoPath).map((job) => job.name)
    let outcome: Outcome
    try {
      log.info(`controller: repository ${repoPath}: pruning`)
      await this.inRetentionQueue(repoPath, () => this.options.pruneRepository!(repoPath))
      outcome = outcomeOf(started, new Date(), true, `pruned repository ${repoPath}`, 0)
      log.info(`controller: repository ${repoPath}: ${outcome.message}`)
    } catch (error) {
      outcome = outcomeOf(started, new Date(), false, `the prune of repository ${repoPath} failed: ${(error as Error).message}`, (error as RunError).exitCode ?? 1)
      log.error(`controller: ${outcome.message}`)
    }
    await reporter.finished({ job: `repository ${repoPath}`, kind: 'prune', outcome, checked: { repository: repoPath, jobs }, logTail: tail() })
    return outcome
  }

  /** One drill schedule per job that has one; drills of one repository run between its retentions. */
  private scheduleDrills(found: SwarmJob[]): void {
    if (this.options.schedule === false || !this.options.drill) return
    const wanted = new Map<string, SwarmJob>(found.flatMap((job) => (job.backup?.drill?.schedule ? [[`${job.name}\n${job.backup.drill.schedule}`, job]] : [])))
    for (const [key, cron] of this.drills) {
      if (wanted.has(key)) continue
      cron.stop()
      this.drills.delete(key)
    }
    for (const [key, job] of wanted) {
      if (this.drills.has(key)) continue
      this.drills.set(key, new Cron(job.backup!.drill!.schedule!, { protect: true, catch: (error) => this.options.log.error(`controller: drill of ${job.name}: ${(error as Error).message}`) }, async () => void (await this.drillNow(job.name))))
    }
  }

  /** A restore drill of the job now, as its schedule makes it; undefined for a job that is not there. */
  async drillNow(name: string): Promise<boolean | undefined> {
    const job = this.jobs().find((candidate) => candidate.name === name)
    if (!job?.backup || !this.options.drill) return undefined
    return this.inRetentionQueue(job.backup.repoPath, () => this.options.drill!(job))
  }

  /**
   * restic check of one repository now, between its retentions (never beside one), recorded for
   * every job that keeps its snapshots there and notified once.
   */
  async checkNow(repoPath: string): Promise<Outcome> {
    const { log: baseLog, reporter } = this.options
    const { log, tail } = keepingTail(baseLog)
    const started = new Date()
    const jobs = this.jobs().filter((job) => job.backup?.repoPath === repoPath).map((job) => job.name)
    let outcome: Outcome
    let sizeBytes: number | undefined
    try {
      log.info(`controller: repository ${repoPath}: checking`)
      ;({ sizeBytes } = await this.inRetentionQueue(repoPath, () => this.options.checkRepository!(repoPath)))
      outcome = outcomeOf(started, new Date(), true, `no errors in repository ${repoPath}${sizeBytes === undefined ? '' : ` (${formatBytes(sizeBytes)} on the server)`}`, 0)
      log.info(`controller: repository ${repoPath}: ${outcome.message}`)
    } catch (error) {
      outcome = outcomeOf(started, new Date(), false, `the check of repository ${repoPath} failed: ${(error as Error).message}`, (error as RunError).exitCode ?? 1)
      log.error(`controller: ${outcome.message}`)
    }
    await reporter.finished({ job: `repository ${repoPath}`, kind: 'check', outcome, checked: { repository: repoPath, sizeBytes, jobs }, logTail: tail() })
    return outcome
  }


  /** The tasks under way by their keys (a job's copy into one repository). */
  private readonly underWay = new Map<string, Promise<unknown>>()

  /** Runs the task unless one of this key is still under way; undefined then. */
  once(key: string, task: () => Promise<void>): Promise<void> | undefined {
    return this.underWay.has(key) ? undefined : this.joined(key, task)
  }

  /** Each repository's limit of the controller's own restic processes around its runs (RESTIC_AT_ONCE). */
  private readonly limits = new Map<string, LimitFunction>()

  /** The task, once fewer than RESTIC_AT_ONCE of the repository's others run. */
  limited<T>(repoPath: string, task: () => Promise<T>): Promise<T> {
    let limit = this.limits.get(repoPath)
    if (!limit) this.limits.set(repoPath, (limit = pLimit(RESTIC_AT_ONCE)))
    return limit(task)
  }

  /** Resolves once no task is under way (the controller is stopping: a check may be creating a repository). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.underWay.values()])
  }

  /** The task's promise, or the one of its key still under way (which then serves this caller too). */
  joined<T>(key: string, task: () => Promise<T>): Promise<T> {
    const underWay = this.underWay.get(key)
    if (underWay) return underWay as Promise<T>
    const running = task().finally(() => this.underWay.delete(key))
    this.underWay.set(key, running)
    return running
  }

  /** Retention (forget, prune) and checks of one repository run one at a time: they would fight over its lock. */
  inRetentionQueue<T>(repoPath: string, task: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(repoPath) ?? Promise.resolve()).then(task)
    this.queues.set(repoPath, next.then(() => undefined, () => undefined))
    return next
  }
}
