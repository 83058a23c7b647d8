import { formatBytes } from '../restic/backup-summary.js'

/** A node a service's data could go to: one its constraints allow, that is ready and active. */
export interface NodeCandidate {
  id: string
  name: string
  /** Tasks it runs now, and those the plan already sends there. */
  tasks: number
  /** Bytes free where its Docker keeps volumes; unknown when its survey did not answer. */
  free?: number
}

// Room is the data and a fifth more: a database takes more room than its dump, and the node's
// services go on writing meanwhile.
const HEADROOM = 1.2

/** Whether a node has room for `need` bytes; a node whose free space is unknown is given the benefit of the doubt. */
export const hasRoom = (node: Pick<NodeCandidate, 'free'>, need: number) => node.free === undefined || node.free >= need * HEADROOM

/** What a plan says of a node's room: how much the data needs, and what is free there. */
export const describeRoom = (need: number, free: number | undefined) =>
  `${formatBytes(need)} to restore${free === undefined ? ', free space unknown' : ` of ${formatBytes(free)} free`}`

/**
 * The node for a service's data: of the candidates with room for `need` bytes, the one with the
 * fewest tasks, then the most free space (then by name, so that a plan is the same each time).
 * A sentence says why there is none.
 */
export function chooseNode(candidates: NodeCandidate[], need: number): { node?: NodeCandidate; problem?: string } {
  const roomy = candidates.filter((node) => hasRoom(node, need))
  const [node] = roomy.sort((a, b) => a.tasks - b.tasks || (b.free ?? 0) - (a.free ?? 0) || a.name.localeCompare(b.name))
  if (node) return { node }
  const [most] = [...candidates].sort((a, b) => (b.free ?? 0) - (a.free ?? 0))
  return {
    problem: most
      ? `no node it may go to has room for its ${formatBytes(need)} and a fifth more (the most free is ${formatBytes(most.free ?? 0)} on ${most.name}); free space on one, or name it with --to.`
      : 'no node that is ready and active meets its constraints',
  }
}
