import { formatBytes } from '../restic/backup-summary.js'
import type { SnapshotInfo } from '../restic/snapshots.js'

/** A node a service's data could go to: one its constraints allow, that is ready and active. */
export interface NodeCandidate {
  id: string
  name: string
  /** Tasks it runs now, and those the plan already sends there. */
  tasks: number
  /** Bytes free where its Docker keeps volumes; unknown when its survey did not answer. */
  free?: number
}

// Room is the data and a fifth more (the node's services go on writing meanwhile); a database
// loaded from a dump takes about twice the dump, with its indexes.
const HEADROOM = 1.2
const DUMP_GROWTH = 2

/** The room a service's snapshots need on a node: its volumes' data, and twice its dump; unknown when a snapshot does not say its size (restic before 0.17). */
export function roomNeeded(data: SnapshotInfo | undefined, dump: SnapshotInfo | undefined): number | undefined {
  if ((data && !data.summary) || (dump && !dump.summary)) return undefined
  return (data?.summary?.total_bytes_processed ?? 0) + DUMP_GROWTH * (dump?.summary?.total_bytes_processed ?? 0)
}

/** Whether a node has room for `need` bytes; a node whose free space, or a need, that is unknown is given the benefit of the doubt. */
export const hasRoom = (node: Pick<NodeCandidate, 'free'>, need: number | undefined) => node.free === undefined || need === undefined || node.free >= need * HEADROOM

/** What a plan says of a node's room: how much the data needs, and what is free there, and whether that is enough. */
export const describeRoom = (need: number | undefined, free: number | undefined) =>
  `${need === undefined ? 'size unknown' : `${formatBytes(need)} to restore`}${free === undefined ? ', free space unknown' : ` of ${formatBytes(free)} free`}${hasRoom({ free }, need) ? '' : ': LESS ROOM THAN IT NEEDS'}`

/**
 * The node for a service's data: of the candidates with room for `need` bytes, the one with the
 * fewest tasks, then the most free space (then by name, so that a plan is the same each time).
 * A sentence says why there is none.
 */
export function chooseNode(candidates: NodeCandidate[], need: number | undefined): { node?: NodeCandidate; problem?: string } {
  const roomy = candidates.filter((node) => hasRoom(node, need))
  const [node] = roomy.sort((a, b) => a.tasks - b.tasks || (b.free ?? 0) - (a.free ?? 0) || a.name.localeCompare(b.name))
  if (node) return { node }
  const [most] = [...candidates].sort((a, b) => (b.free ?? 0) - (a.free ?? 0))
  return {
    problem: most
      ? `no node it may go to has room for its ${formatBytes(need ?? 0)} and a fifth more (the most free is ${formatBytes(most.free ?? 0)} on ${most.name}); free space on one, or name it with --to.`
      : 'no node that is ready and active meets its constraints',
  }
}
