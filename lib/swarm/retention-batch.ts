import type { SwarmJob } from './discover.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import type { OwnerCheck } from '../restic/locks.js'
import { describeRetention, forgetArgs, forgetRejected, keepArgs } from '../restic/retention.js'
import { withLockCare } from '../run/stale-locks.js'
import type { ControllerOptions } from './controller-options.js'
import type { RepositoryWork } from './repository-work.js'
import type { RunQueue } from './run-queue.js'

/**
 * How long a run's retention waits for the other backups of its repository to end: it goes ahead
 * beside them after that, with every retention that came meanwhile, so that a run is recorded
 * within about a minute of its backup even in a repository that is never idle (one forget a minute
 * there, not one per run).
 */
export const RETENTION_WAIT_MS = 60_000

interface Batch {
  jobs: SwarmJob[]
  rejected: Set<string>
  failures?: Promise<Map<string, Error>>
}

/**
 * The retentions of one repository's runs, gathered. restic forget needs the repository to itself:
 * beside the backups of a busy night it waits for a moment when none runs, and holds up the next
 * ones while it runs, one forget per run. So a run's retention waits while other backups into its
 * repository run or wait for their turn (RETENTION_WAIT_MS at most), and then the retentions that
 * waited run together, in one turn of the repository's queue (one forget per policy). A run whose
 * job has no policy forgets nothing, and does not wait.
 */
export class RetentionBatches {
  private readonly pending = new Map<string, Batch>()

  constructor(
    private readonly options: ControllerOptions,
    private readonly repositories: RepositoryWork,
    private readonly queue: RunQueue,
  ) {}

  /** The job's retention after its accepted backup, with its run's verdicts (not recorded yet); rejects with its own failure. */
  async retain(job: SwarmJob, rejected: readonly string[]): Promise<void> {
    // Without a policy nothing is forgotten (append-only, or no keep-*): its run is recorded at once.
    if (keepArgs(job.backup!.retention).length === 0) return
    const repoPath = job.backup!.repoPath
    let batch = this.pending.get(repoPath)
    if (!batch) {
      const opened: Batch = { jobs: [], rejected: new Set() }
      opened.failures = this.queue.whenIdle(repoPath, RETENTION_WAIT_MS).then(() => {
        // From now on, a run that ends waits for the next batch.
        this.pending.delete(repoPath)
        // The guard's verdicts as recorded when it starts, and those of the runs not recorded yet.
        return this.repositories.inRetentionQueue(repoPath, async () => this.options.applyRetention(repoPath, opened.jobs, [...(await this.options.reporter.rejectedSnapshots()), ...opened.rejected]))
      })
      this.pending.set(repoPath, opened)
      batch = opened
    }
    batch.jobs.push(job)
    for (const id of rejected) batch.rejected.add(id)
    const failure = (await batch.failures!).get(job.name)
    if (failure) throw failure
  }
}

/**
 * The jobs' retentions in one repository (their own, or one their backups are copied into: `where`
 * says so in the log): the rejected snapshots of them all forgotten first, then one restic forget
 * per policy naming each of its jobs (--host), as restic applies a policy to each host's snapshots
 * on their own, each with the lock care. A policy's failure is its jobs' alone.
 */
export async function retentionsIn(repository: Restic, jobs: readonly SwarmJob[], rejected: readonly string[], ownerIsDead: OwnerCheck, log: Logger, where = ''): Promise<Map<string, Error>> {
  const policies = new Map<string, SwarmJob[]>()
  for (const job of jobs) {
    const keep = keepArgs(job.backup!.retention)
    if (keep.length === 0) continue
    policies.set(keep.join(' '), [...(policies.get(keep.join(' ')) ?? []), job])
    log.info(`controller: ${job.name}: retention${where} ${describeRetention(job.backup!.retention).replace(', then prune', ' (the repository is pruned at PRUNE_AT)')}`)
  }
  const failures = new Map<string, Error>()
  if (policies.size === 0) return failures
  // Without the rejected ones forgotten, no policy may run (they would count): this fails them all.
  await withLockCare(repository, ownerIsDead, log, (restic) => forgetRejected(restic, log, { host: [...policies.values()].flat().map((job) => job.name), rejected }))
  for (const group of policies.values()) {
    const forget = forgetArgs({ ...group[0]!.backup!.retention, prune: false }, group.map((job) => job.name))!
    await withLockCare(repository, ownerIsDead, log, (restic) => runRestic(restic, forget, { log })).catch((error: Error) => {
      for (const job of group) failures.set(job.name, error)
    })
  }
  return failures
}
