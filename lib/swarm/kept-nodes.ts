import type { SwarmNode, SwarmService } from './cluster.js'
import { serviceBackup, type LabelDefaults } from './labels.js'
import { ConfigError } from '../errors.js'
import type { ControllerOptions } from './controller-options.js'
import type { KeptNode, SwarmJob } from './discover.js'
import { lastAccepted, type SnapshotInfo } from '../restic/snapshots.js'
import { type SnapshotRecord } from '../observe/status.js'
import { snapshotRecord } from '../observe/outcome.js'

/** A per-node job found again in its repository: its node, and its last accepted snapshot there. */
export interface FoundKeptNode {
  job: string
  keptNode: KeptNode
  snapshot: SnapshotRecord
  snapshots: number
}

/**
 * The per-node services that are backed up, with their repositories. Read from the labels: such a
 * service has no job at all while it runs on no node. A bad label backs up nothing (its job says so).
 */
export function perNodeBackups(services: SwarmService[], defaults: LabelDefaults): { service: string; repoPath: string }[] {
  return services.flatMap((service) => {
    if (!service.perNode) return []
    try {
      const backup = serviceBackup(service, defaults)
      return backup ? [{ service: service.name, repoPath: backup.repoPath }] : []
    } catch (error) {
      if (error instanceof ConfigError) return []
      throw error
    }
  })
}

/**
 * The per-node jobs whose task is gone but whose data the repository holds: STATUS_FILE keeps them
 * while it lasts, but a controller that starts on another manager (or with a new volume) has none,
 * and would let them drop out of protection unsaid. The repository is the record that cannot be
 * lost with the controller: each host <service>@<node> with an accepted snapshot, of a node still
 * in the Swarm and with no job now, is a kept node again.
 */
export async function findKeptNodes(
  services: { service: string; repoPath: string }[],
  nodes: SwarmNode[],
  jobs: SwarmJob[],
  rejected: readonly string[],
  snapshotsOfHosts: (repoPath: string, hosts: string[]) => Promise<{ snapshots: SnapshotInfo[]; repository: string }>,
): Promise<FoundKeptNode[]> {
  const taken = new Set(jobs.map((job) => job.name))
  // The candidates of each repository: every node of the Swarm not already a job of the service.
  const byRepository = new Map<string, { host: string; keptNode: KeptNode }[]>()
  for (const { service, repoPath } of services) {
    for (const node of nodes) {
      const host = `${service}@${node.name}`
      if (!taken.has(host)) byRepository.set(repoPath, [...(byRepository.get(repoPath) ?? []), { host, keptNode: { service, nodeId: node.id } }])
    }
  }
  const found: FoundKeptNode[] = []
  for (const [repoPath, candidates] of byRepository) {
    const { snapshots, repository } = await snapshotsOfHosts(repoPath, candidates.map((candidate) => candidate.host))
    for (const { host, keptNode } of candidates) {
      const own = snapshots.filter((snapshot) => snapshot.hostname === host)
      const latest = lastAccepted(own, rejected)
      if (latest) found.push({ job: host, keptNode, snapshot: snapshotRecord(latest, repository), snapshots: own.length })
    }
  }
  return found
}

// How long one lookup may take (a server that hangs), and when one that failed is tried again.
const LOOKUP_TIMEOUT_MS = 2 * 60_000
const RETRY_MS = 5 * 60_000

/**
 * The per-node jobs found again in their repositories by one controller, as its discoveries go.
 * The lookups run beside the discoveries, never in their way (a repository that hangs must not
 * stall the controller); what they find is written and discovered in the discoveries' own queue.
 */
export class KeptNodeFinder {
  /** The per-node services (backed up) the last discovery saw: one newly per-node is looked up in its repository. */
  private perNodeServices = new Set<string>()
  /** When a service whose lookup failed may be looked up again. */
  private readonly retryAt = new Map<string, number>()

  constructor(
    private readonly options: ControllerOptions,
    /** Runs `keep` in the discoveries' queue, then discovers the jobs again. */
    private readonly rediscover: (keep: () => Promise<void>, why: string) => void,
  ) {}

  /**
   * Told of each discovery: looks up, in the background, the nodes of each service that is
   * per-node for the first time since the controller started (or again, after a bad label or a
   * single replica): a node whose task is gone but whose snapshots are there is kept (see
   * findKeptNodes), and the jobs are discovered again with it.
   */
  notice(services: SwarmService[], nodes: SwarmNode[], found: SwarmJob[]): void {
    // A service whose labels are refused backs up nothing: looked up once they are mended.
    const refused = new Set(found.filter((job) => job.error).map((job) => job.service))
    const backedUp = perNodeBackups(services, this.options.defaults).filter(({ service }) => !refused.has(service))
    const now = Date.now()
    const newly = backedUp.filter(({ service }) => !this.perNodeServices.has(service) || (this.retryAt.get(service) ?? Infinity) <= now)
    this.perNodeServices = new Set(backedUp.map(({ service }) => service))
    const { snapshotsOfHosts, reporter, stop } = this.options
    if (newly.length === 0 || !snapshotsOfHosts || !reporter.recording || this.options.schedule === false || stop.aborted) return
    for (const { service } of newly) this.retryAt.delete(service)
    void this.lookUp(newly, nodes, found)
  }

  private async lookUp(services: { service: string; repoPath: string }[], nodes: SwarmNode[], found: SwarmJob[]): Promise<void> {
    const { snapshotsOfHosts, reporter, log, stop } = this.options
    const retryLater = (why: string) => {
      for (const { service } of services) this.retryAt.set(service, Date.now() + RETRY_MS)
      // A quiet Swarm may change nothing for hours: a discovery then looks again.
      setTimeout(() => void (stop.aborted || this.rediscover(async () => undefined, 'looking up per-node jobs again')), RETRY_MS + 1000).unref()
      log.warn(`controller: could not look up the per-node jobs of ${services.map(({ service }) => service).join(', ')} in their repository (${why}); trying again in ${RETRY_MS / 60_000} minutes`)
    }
    try {
      const signal = AbortSignal.any([stop, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)])
      const forgotten = await reporter.forgottenJobs()
      const candidates = await findKeptNodes(services, nodes, found, await reporter.rejectedSnapshots(), (repoPath, hosts) => snapshotsOfHosts!(repoPath, hosts, signal))
      const kept = candidates.filter(({ job }) => !forgotten.includes(job))
      if (kept.length === 0) return
      this.rediscover(async () => {
        if (stop.aborted) return
        for (const { job, keptNode, snapshot, snapshots } of kept) {
          if (!(await reporter.keepNode(job, keptNode, snapshot, snapshots))) return retryLater('STATUS_FILE could not be written')
          log.warn(`controller: ${job}: its task is gone, but its snapshots are in the repository (the last ${snapshot.id.slice(0, 8)} of ${snapshot.time}): the job is kept`)
        }
      }, 'per-node jobs found in their repository')
    } catch (error) {
      if (!stop.aborted) retryLater((error as Error).message)
    }
  }
}
