import type { Outcome, SnapshotRecord } from './status.js'

/**
 * What a run is: a backup of a job, a `restic check` of its repository, a restore drill, or the
 * server's maintenance of one repository (forget, prune, check), which is recorded like a backup, or
 * the copy of a job's snapshots into another repository (rds.backup.copy-to).
 */
export type RunKind = 'backup' | 'check' | 'drill' | 'rehearsal' | 'maintenance' | 'prune' | 'copy'

/** The kinds whose runs are a job's attempts: their failures make it FAILING, their absence OVERDUE. */
export const recordsAttempts = (kind: RunKind) => kind === 'backup' || kind === 'maintenance'

/** A job as the reporter watches it: its schedule gives the overdue limit. */
export interface WatchedJob {
  name: string
  schedule?: string
  overdueAfterMs?: number
  error?: string
  /** A job of one node of a per-node service (see JobStatus.keptNode). */
  keptNode?: { service: string; nodeId: string }
  /** The repositories its snapshots are copied into now (undefined: not known, a label error); the records of others are dropped. */
  copyTo?: string[]
  /** A per-node job whose task runs on its node, and the node is ready: one forgotten is no longer (see watch). */
  runsThere?: boolean
}

/** How one run ended, and what it saved. */
export interface RunReport {
  job: string
  kind: RunKind
  outcome: Outcome
  snapshot?: SnapshotRecord
  /** How many snapshots of the job the repository holds now. */
  snapshots?: number
  /** The run's last log lines, for notifications that carry them. */
  logTail?: string[]
  /** A check: the repository it checked, its size, and the jobs that keep their snapshots there. */
  checked?: { repository: string; sizeBytes?: number; jobs: string[] }
  /** A backup that stopped its service (rds.backup.stop): for how many seconds. */
  downtimeSeconds?: number
  /** When the run saved its service's (and stack's) definition (MODE=swarm). */
  definitionSavedAt?: string
  /** Snapshots the guard rejected in this run. */
  rejected?: string[]
  /** A copy: the repository, by its name, the job's snapshots were copied into, and the newest of them there. */
  copied?: { destination: string; newest?: { id: string; time: string } }
  /** A success that ends an OVERDUE episode that was notified: a recovery, whatever the run before it. */
  endsOverdue?: boolean
}

/** Told of every run's start and end, and whether the run before it had failed: e-mail, webhooks. */
export interface RunListener {
  started(job: string, kind: RunKind): Promise<void>
  finished(report: RunReport, previous: Outcome | undefined): Promise<void>
  /**
   * A job has gone without a success for longer than its limit: told once per episode, to the
   * destinations named in `to` (by the names this listener gave them) or to every one. Resolves to
   * the names of those that did not get it (they are told again later).
   */
  overdue(report: RunReport, to?: string[]): Promise<string[]>
}
