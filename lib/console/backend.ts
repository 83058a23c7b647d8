import type { Restic } from '../restic/command.js'
import type { Logger } from '../observe/log.js'
import type { Accounts } from './accounts.js'
import type { AuditLog } from './audit.js'
import type { JobStatus } from '../observe/status.js'
import type { CoverageRow } from '../swarm/coverage.js'
import type { SwarmNode } from '../swarm/cluster.js'

/** A recovery's plan as the console shows it: a line for each service, as rds recover prints it. */
export interface RecoveryPlanView {
  lost: string
  steps: { job: string; service: string; target?: string; data?: string; dump?: string; problem?: string; said: string }[]
}

/** A job as the console shows it: where it runs, its schedule, and what STATUS_FILE says of it. */
export interface JobView {
  name: string
  service: string
  /** The stack its service belongs to, if any: what a rehearsal copies. */
  stack?: string
  node?: string
  /** The repository's path on the server (or its name in REPOSITORIES_FILE). */
  repository?: string
  schedule?: string
  nextRun?: string
  /** Its state in one word, worst first (rds status). */
  state: string
  /** Why its run waits to start, while it does. */
  queued?: string
  /** Why it cannot run on its node now. */
  unavailable?: string
  status?: JobStatus
}

/**
 * What the console asks of the controller: its jobs, their snapshots and repositories, and runs.
 * The console holds nothing of its own but its sessions and its log of actions.
 */
export interface ConsoleBackend {
  jobs(): Promise<JobView[]>
  /** restic for the job's repository, limited to its snapshots (--host); undefined for no such job. */
  resticOf(job: string): Restic | undefined
  /**
   * Starts a run of the job as its schedule would: the run, which resolves to what it saved and
   * rejects when it failed; or why it cannot start; undefined for no such job.
   */
  backupNow(job: string): { run: Promise<string> } | { refused: string } | undefined
  /**
   * Restores the job's service in place from its snapshot, as `rds restore --service` does (with a
   * safety snapshot first, and back as it was if anything fails), or onto `toNode` and moves it
   * there (--to-node); resolves to what it did.
   */
  restore(job: string, snapshot: string, toNode: string | undefined, signal: AbortSignal): Promise<string>
  /** The Swarm's nodes: where a service may be restored onto. */
  nodes(): Promise<SwarmNode[]>
  /** A restore drill of the job now, as its schedule makes it (DRILL_AT); resolves to how it went, rejects when it failed. */
  drillNow(job: string): Promise<string>
  /**
   * A rehearsal of the stack now, as `rds rehearse --stack` makes it (a copy deployed from its
   * backups, waited for, removed); resolves to how it went, rejects when it failed.
   */
  rehearseNow(stack: string, signal: AbortSignal): Promise<string>
  /** What `rds recover --node NODE [--to TO]` would do: each service whose data was on the lost node, and where it goes. */
  recoveryPlan(node: string, to: string | undefined, signal: AbortSignal): Promise<RecoveryPlanView>
  /**
   * Carries that plan out (`rds recover --yes`) if it is still the one shown (`shown`: "JOB -> NODE"
   * for each service it moves); resolves to what came back, rejects when any service did not.
   */
  recoverNode(node: string, to: string | undefined, shown: string[], signal: AbortSignal): Promise<string>
  /** Every volume on every node and what covers it (rds coverage), from a survey of each node now. */
  coverage(): Promise<CoverageRow[]>
}

export interface ConsoleOptions {
  accounts: Accounts
  backend: ConsoleBackend
  audit: AuditLog
  log: Logger
  /** Aborted when the controller stops: the console's long actions stop with it. */
  stop?: AbortSignal
  /** A session ends after this long without a request (30 minutes). */
  idleMs?: number
  /** A download whose reader takes nothing for this long is stopped (5 minutes). */
  stalledMs?: number
}
