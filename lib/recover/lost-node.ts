import type Docker from 'dockerode'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import type { SnapshotInfo } from '../restic/snapshots.js'
import { nameNodes, type SwarmNode, type SwarmService } from '../swarm/cluster.js'
import type { SwarmJob } from '../swarm/discover.js'
import { meetsConstraints, namesOneNode, type NodeFacts } from '../swarm/placement.js'
import { chooseNode, roomNeeded, type NodeCandidate } from './node-choice.js'
import { planRestore } from './restore-plan.js'

/** What `rds recover --node` does for one service whose data was on the lost node. */
export interface RecoverStep {
  job: SwarmJob
  service?: SwarmService
  data?: SnapshotInfo
  dump?: SnapshotInfo
  /** The node it goes to. */
  target?: SwarmNode
  /** Bytes the node it goes to needs room for (roomNeeded); unknown for snapshots that do not say their size. */
  need?: number
  /** Bytes free on that node before it, where known. */
  free?: number
  /** Why it cannot be recovered so: one sentence. */
  problem?: string
}

/** The lost node: one of the Swarm's that is not ready, or a host name no node has any more (docker node rm). */
export interface LostNode {
  id?: string
  name: string
}

export function lostNode(nodes: SwarmNode[], wanted: string): LostNode {
  const node = nodes.find((candidate) => candidate.name === wanted || candidate.id === wanted)
  if (!node) return { name: wanted }
  if (node.state === 'ready') throw new ConfigError(`node ${node.name} is ready, so its services and their data are there; restore one in place with rds restore --service, or move it with --to-node.`)
  return { id: node.id, name: node.name }
}

// A constraint that names the lost node, by host name or ID.
const namesNode = (constraint: string, lost: LostNode) => {
  const match = /^\s*node\.(hostname|id)\s*==\s*(\S+)\s*$/.exec(constraint)
  return match !== null && (match[2] === lost.name || match[2] === lost.id)
}

/**
 * The services whose data lived on the lost node (a task there, a constraint naming it, or a
 * restore that left it marked there), each with the accepted snapshots it would come back from
 * and the node it would go to: `to`, or of the ready nodes that its other constraints allow and
 * that have room for its data (`free`: bytes free on each node, by ID, where known), the one with
 * the fewest tasks. Nothing is changed.
 */
export async function planRecovery(
  docker: Docker,
  context: { jobs: SwarmJob[]; services: SwarmService[]; resticFor: (repoPath: string) => Restic; rejected: readonly string[] },
  lost: LostNode,
  options: { to?: SwarmNode; at?: Date; free?: Map<string, number> },
  log: Logger,
): Promise<RecoverStep[]> {
  const facts = (await docker.listNodes()) as (NodeFacts & { Status?: { State?: string }; Spec?: { Availability?: string } })[]
  const nodes = nameNodes(facts as Parameters<typeof nameNodes>[0])
  const usable = facts.filter((node) => node.ID !== lost.id && node.Status?.State === 'ready' && (node.Spec?.Availability ?? 'active') === 'active')
  const load = new Map<string, number>()
  for (const service of context.services) for (const task of service.tasks) load.set(task.nodeId, (load.get(task.nodeId) ?? 0) + 1)
  // What is left free on each node as the plan sends services there.
  const free = new Map(options.free)
  const steps: RecoverStep[] = []
  for (const job of context.jobs) {
    const service = context.services.find((candidate) => candidate.name === job.service)
    const constraints = service ? await constraintsOf(docker, service.name) : []
    const there = job.node?.nodeId === lost.id || job.node?.nodeName === lost.name || constraints.some((constraint) => namesNode(constraint, lost)) || (lost.id !== undefined && job.restoring?.endsWith(`on node ${lost.id}`))
    // Swarm may have started it again elsewhere already, on an empty volume: its data is still to come back.
    const moved = !there && job.backup !== undefined && !job.perNode && service !== undefined && (await movedFrom(docker, service.name, lost))
    if ((!there && !moved) || !job.backup) continue
    const step: RecoverStep = { job, service }
    steps.push(step)
    if (job.perNode || service?.global) {
      step.problem = `it runs on several nodes (or every one), each with data of its own; restore what it had on ${lost.name} into a volume with rds restore --to-volume.`
      continue
    }
    try {
      const plan = await planRestore(context.resticFor(job.backup.repoPath), job, { snapshot: 'latest', at: options.at, rejected: context.rejected }, log)
      step.data = plan.data
      step.dump = plan.dump
    } catch (error) {
      step.problem = (error as Error).message
      continue
    }
    const need = roomNeeded(step.data, step.dump)
    step.need = need
    const given = options.to ?? (moved && job.node ? nodes.find((node) => node.id === job.node!.nodeId) : undefined)
    if (given) {
      // Named, or where Swarm runs it now (restored in place there, with a safety snapshot of what
      // it holds): gone to all the same, as the plan says (a node's room is measured, not known).
      step.target = given
      step.free = free.get(given.id)
    } else {
      try {
        const others = constraints.filter((constraint) => !namesOneNode(constraint))
        const candidates: NodeCandidate[] = usable
          .filter((node) => meetsConstraints(node, others))
          .flatMap((facts) => nodes.filter((node) => node.id === facts.ID))
          .map((node) => ({ id: node.id, name: node.name, tasks: load.get(node.id) ?? 0, free: free.get(node.id) }))
        const chosen = candidates.length > 0 ? chooseNode(candidates, need) : { problem: `no node that is ready and active meets its constraints (${others.join(', ') || 'none'}); name one with --to.` }
        step.target = chosen.node && nodes.find((node) => node.id === chosen.node!.id)
        step.free = chosen.node?.free
        step.problem = chosen.problem
      } catch (error) {
        step.problem = `${(error as Error).message}; name the node with --to.`
      }
    }
    if (step.target && !step.problem) {
      load.set(step.target.id, (load.get(step.target.id) ?? 0) + 1)
      if (step.free !== undefined && need !== undefined) free.set(step.target.id, step.free - need)
    }
  }
  return steps
}

async function constraintsOf(docker: Docker, name: string): Promise<string[]> {
  const info = (await docker.getService(name).inspect()) as { Spec?: { TaskTemplate?: { Placement?: { Constraints?: string[] } } } }
  return info.Spec?.TaskTemplate?.Placement?.Constraints ?? []
}

/**
 * Whether Swarm moved a service off the lost node: the task it ran before the one that runs now
 * was there. (A node removed with docker node rm takes its tasks' history with it.)
 */
async function movedFrom(docker: Docker, name: string, lost: LostNode): Promise<boolean> {
  if (lost.id === undefined) return false
  const tasks = (await docker.listTasks({ filters: { service: [name] } })) as { NodeID?: string; CreatedAt?: string; Status?: { State?: string } }[]
  const byAge = tasks.sort((a, b) => (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? ''))
  const now = byAge.findIndex((task) => task.Status?.State === 'running')
  return now >= 0 && byAge[now]!.NodeID !== lost.id && byAge[now + 1]?.NodeID === lost.id
}
