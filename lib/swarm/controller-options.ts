import type { Cron } from 'croner'
import type Docker from 'dockerode'
import type { JobLedger } from './job-ledger.js'
import type { JobTemplate } from './job-service.js'
import type { SwarmJob } from './discover.js'
import type { LabelDefaults } from './labels.js'
import type { Logger } from '../observe/log.js'
import type { JobRow, LastRun } from '../observe/jobs-file.js'
import type { Reporter } from '../observe/reporter.js'
import type { RunLimits } from '../config/run-limits.js'
import type { Retention } from '../config/environment.js'
import type { SnapshotInfo } from '../restic/snapshots.js'

/** A job as the controller holds it: what discovery found, its schedule, and its last run. */
export interface ScheduledJob {
  job: SwarmJob
  cron?: Cron
  running?: Promise<void>
  stopRun?: AbortController
  last?: LastRun
  /** Why its due run waits to start (lib/swarm/run-queue.ts); undefined once it has started. */
  queued?: string
}

/** What the controller is given: the Swarm, the jobs' template and settings, and what it calls to do the work. */
export interface ControllerOptions {
  docker: Docker
  /** The controller's own service, whose events (its lease's renewals) change nothing. */
  ownServiceId?: string
  template: JobTemplate
  /** The job services' names in this Swarm, and which have ended (for the locks they left). */
  ledger: JobLedger
  defaults: LabelDefaults
  /** What every job's `rds backup` gets from the controller: the server, the secrets' paths, the guard. */
  jobEnv: string[]
  /** restic check of the repository at this path (CHECK_AT, rds.backup.check-at): resolves to its size, or throws what is wrong. */
  checkRepository?: (repoPath: string) => Promise<{ sizeBytes?: number }>
  /** A restore drill of the job's latest snapshot (DRILL_AT, rds.backup.drill-at): resolves to whether it passed. */
  drill?: (job: SwarmJob) => Promise<boolean>
  /**
   * Called before each run's job starts: creates its repository if there is none (and none was
   * ever recorded), and removes the locks dead owners left there. A RunError of exit code 10 (the
   * repository vanished) fails the run.
   */
  beforeRun?: (job: SwarmJob) => Promise<void>
  /**
   * Applies the jobs' retentions (forget, never prune) in one repository once they have backed up
   * (lib/swarm/retention-batch.ts), called for one repository at a time; the snapshots the guard
   * rejected (these and the tagged) are forgotten first. Resolves to each job's own failure by its
   * name; rejects when none of them could be applied.
   */
  applyRetention: (repoPath: string, jobs: SwarmJob[], rejected: readonly string[]) => Promise<Map<string, Error>>
  /**
   * Saves the service's definition (lib/swarm/definition.ts) into the job's repository, after each
   * run whose backup was accepted: what `rds stack export` writes a stack file from.
   */
  saveDefinition?: (job: SwarmJob) => Promise<void>
  /**
   * restic copy of these snapshots of the job into the repository of REPOSITORIES_FILE of this name
   * (rds.backup.copy-to), then the job's retention there; throws what went wrong.
   */
  copySnapshots?: (job: SwarmJob, destination: string, ids: string[], signal: AbortSignal) => Promise<void>
  /** The retention a repository of REPOSITORIES_FILE gives the copies made into it (its keep-* and prune lines), if it gives one. */
  copyRetention?: (destination: string) => Retention | undefined
  /** restic prune of the repository at this path: once a day (PRUNE_AT) for all the services that ask for it. */
  pruneRepository?: (repoPath: string) => Promise<void>
  /** PRUNE_AT: when the repositories are pruned. */
  pruneAt?: string
  log: Logger
  /** Aborting stops the controller: no new run starts, running jobs are stopped, then it resolves. */
  stop: AbortSignal
  /**
   * Where each job's run lock lives (LOCK_DIR): the controller and an `rds backup --service` in its
   * container never run one job at once (its hooks would undo each other's work).
   */
  lockDir: string
  /** Where runs are recorded (STATUS_FILE) and notified. */
  reporter: Reporter
  /** OVERDUE_AFTER in ms, if set: how long any job may go without a success. */
  overdueAfter?: number
  /** The snapshots a job has saved, read from its repository, for the status. */
  snapshotsOf: (job: SwarmJob) => Promise<{ snapshots: SnapshotInfo[]; repository: string }>
  /** The snapshots of these hosts in the repository at this path: where per-node jobs whose task is gone are found again. */
  snapshotsOfHosts?: (repoPath: string, hosts: string[], signal: AbortSignal) => Promise<{ snapshots: SnapshotInfo[]; repository: string }>
  /** False: jobs run only when asked (runNow), never on their schedules. */
  schedule?: boolean
  /** MAX_JOBS_PER_NODE, MAX_JOBS_PER_REPOSITORY and BACKUP_WINDOW; one job a node when not given. */
  limits?: RunLimits
  /** Called whenever the jobs or their outcomes change. */
  onChange?: (jobs: ScheduledJob[]) => void
}

/** What `rds jobs` shows of each job (JOBS_FILE), by name. */
export function jobRows(jobs: ScheduledJob[]): JobRow[] {
  return jobs
    .map(({ job, cron, running, last, queued }) => ({
      name: job.name,
      service: job.service,
      node: job.node?.nodeName,
      schedule: job.backup?.schedule,
      nextRun: cron?.nextRun()?.toISOString(),
      running: running !== undefined && queued === undefined,
      queued,
      last,
      error: job.error,
      unavailable: job.unavailable,
    }))
    .sort((a, b) => a.name.localeCompare(b.name))
}
