import type { RunRecord } from './run-history.js'

/** How one attempt of something (a backup, a check, a drill) ended. */
export interface Outcome {
  startedAt: string
  finishedAt: string
  ok: boolean
  exitCode?: number
  /** The error, or what the attempt achieved, in one line. */
  message: string
  durationSeconds: number
}

/** A snapshot a job saved, as the repository or restic's summary describes it. */
export interface SnapshotRecord {
  id: string
  time: string
  /** Where it was saved: a repository that later vanishes is then noticed. */
  repository: string
  files?: number
  bytesAdded?: number
  bytesProcessed?: number
}

/** What STATUS_FILE keeps of one job, for `rds status`, `rds health` and the metrics. */
export interface JobStatus {
  schedule?: string
  /** When this agent first saw the job: its overdue clock starts there until a backup succeeds. */
  watchedSince: string
  /** Seconds after the last success (or watchedSince) at which the job is OVERDUE (OVERDUE_AFTER). */
  overdueAfterSeconds?: number
  /** Present while a run is going; left behind by a run that was killed. */
  running?: { since: string; pid: number; hostname?: string }
  lastAttempt?: Outcome
  lastSuccess?: Outcome
  /** The last snapshot saved, which outlives failed runs. */
  lastSnapshot?: SnapshotRecord
  /** How many snapshots of this job the repository held after its last run. */
  snapshots?: number
  failuresInARow?: number
  /** How many runs ended, by result, since the status was first recorded: rds_runs_total. */
  runs?: { success: number; failure: number }
  lastCheck?: Outcome
  lastDrill?: Outcome
  /** Its copies (rds.backup.copy-to), by the destination's name: the last attempt, and the newest snapshot copied there. */
  copies?: Record<string, CopyStatus>
  /** The last rehearsal of its stack (rds rehearse): a copy deployed from its backups, and whether it ran. */
  lastRehearsal?: Outcome
  /** When its service's definition was last saved with a backup (MODE=swarm): what rds stack restore needs. */
  lastDefinitionAt?: string
  /** How long its service was last stopped (scaled to 0 or paused) for a backup, in seconds. */
  lastDowntimeSeconds?: number
  /** A label error: the job cannot run until it is mended. */
  error?: string
  /**
   * Snapshots the guard rejected, newest last: the verdict kept where an append-only server cannot
   * refuse it (it refuses the tag), so that "latest" and the guard's comparisons skip them.
   */
  rejectedSnapshots?: string[]
  /** When the job was noticed OVERDUE and notified (once per episode); cleared by its next success. */
  overdueNotifiedAt?: string
  /** How many times in a row the OVERDUE notice did not reach every destination (it is tried again). */
  overdueUnsent?: number
  /** The destinations (by their place in NOTIFY_URLS and description) still owed the OVERDUE notice; absent while none was tried. */
  overdueUnsentTo?: string[]
  /**
   * A job of one node of a service with data on every node (MODE=swarm): once it has saved a
   * snapshot, the job stays while the service's task is gone from the node, until `rds jobs --forget`.
   */
  keptNode?: { service: string; nodeId: string }
  /** Its newest runs of every kind (backups, drills, copies, rehearsals), newest first, with their logs' last lines. */
  history?: RunRecord[]
}

/** The copies of a job's snapshots into one other repository. */
export interface CopyStatus {
  lastAttempt?: Outcome
  /** The newest of its snapshots there (its ID in the job's own repository): a copy's age is counted from it. */
  newest?: { id: string; time: string }
}

/** What STATUS_FILE holds: every job's status, and the agent's heartbeat. */
export interface StatusTable {
  /** When the agent last wrote the table: `rds health` takes a long silence for a hung agent. */
  heartbeatAt?: string
  jobs: Record<string, JobStatus>
  /** Snapshots rejected by the guard of jobs that are gone (a service removed): still never "latest". */
  rejectedSnapshots?: string[]
  /**
   * Per-node jobs ended by `rds jobs --forget` (SERVICE@NODE): their snapshots stay in the
   * repository, where they are not taken for a job to keep again, until the service runs there again.
   */
  forgottenJobs?: string[]
  /**
   * The newest snapshot copied into each repository (by its name) by any job, kept when the job is
   * gone: a repository that held copies and vanished is a loud failure, never created afresh.
   */
  copiedInto?: Record<string, { id: string; time: string; by: string }>
  /** What the last `restic check` of each repository found, by the repository's name. */
  repositories?: Record<string, { lastCheck?: Outcome; sizeBytes?: number; lastPrune?: Outcome }>
}

/** The heartbeat is written this often; a table older than HEARTBEAT_LIMIT_MS means a hung agent. */
export const HEARTBEAT_MS = 60_000
export const HEARTBEAT_LIMIT_MS = 5 * HEARTBEAT_MS

/** The name a status written before jobs had names is read under; see jobStatus. */
export const LEGACY_JOB = ''

/** A job's status, falling back to a status written before the table had names. */
export function jobStatus(table: StatusTable, name: string): JobStatus | undefined {
  return table.jobs[name] ?? table.jobs[LEGACY_JOB]
}
