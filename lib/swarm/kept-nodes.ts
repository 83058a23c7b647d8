import type { SwarmNode, SwarmService } from './cluster.js'
import { serviceBackup, type LabelDefaults } from './labels.js'
import { ConfigError } from '../errors.js'
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
