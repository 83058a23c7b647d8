import type { SwarmNode, SwarmService } from './cluster.js'
import { serviceBackup, type LabelDefaults } from './labels.js'
import { ConfigError } from '../errors.js'
import type { ControllerOptions } from './controller-options.js'
import type { KeptNode, SwarmJob } from './discover.js'
import { lastAccepted, type SnapshotInfo } from '../restic/snapshots.js'
import { snapshotRecord, type SnapshotRecord } from '../observe/status.js'

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

/** The per-node jobs found again in their repositories by one controller, as its discoveries go. */
export class KeptNodeFinder {
  /** The per-node services (backed up) the last discovery saw: one newly per-node is looked up in its repository. */
  private perNodeServices = new Set<string>()

  constructor(private readonly options: ControllerOptions) {}

  /**
   * Looks up in their repositories the nodes of each service that is per-node for the first
   * time since the controller started (or again, after a bad label or a single replica): a node
   * whose task is gone but whose snapshots are there is kept (see findKeptNodes). Resolves to
   * whether any was found, so that the jobs are discovered again with them.
   */
  async find(services: SwarmService[], nodes: SwarmNode[], found: SwarmJob[]): Promise<boolean> {
    const backedUp = perNodeBackups(services, this.options.defaults)
    const newly = backedUp.filter(({ service }) => !this.perNodeServices.has(service))
    this.perNodeServices = new Set(backedUp.map(({ service }) => service))
    const { snapshotsOfHosts, reporter, log } = this.options
    if (newly.length === 0 || !snapshotsOfHosts || !reporter.recording || this.options.schedule === false) return false
    try {
      const forgotten = await reporter.forgottenJobs()
      const kept = (await findKeptNodes(newly, nodes, found, await reporter.rejectedSnapshots(), snapshotsOfHosts)).filter(({ job }) => !forgotten.includes(job))
      for (const { job, keptNode, snapshot, snapshots } of kept) {
        log.warn(`controller: ${job}: its task is gone, but its snapshots are in the repository (the last ${snapshot.id.slice(0, 8)} of ${snapshot.time}): the job is kept`)
        await reporter.keepNode(job, keptNode, snapshot, snapshots)
      }
      return kept.length > 0
    } catch (error) {
      // Looked up again at the next discovery, rather than leaving a node out of protection.
      for (const { service } of newly) this.perNodeServices.delete(service)
      log.warn(`controller: could not look up the per-node jobs of ${newly.map(({ service }) => service).join(', ')} in their repository: ${(error as Error).message}`)
      return false
    }
  }
}
