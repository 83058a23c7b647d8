import type Docker from 'dockerode'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import type { SnapshotInfo } from '../restic/snapshots.js'
import { nameNodes, type SwarmNode, type SwarmService } from '../swarm/cluster.js'
import type { SwarmJob } from '../swarm/discover.js'
import { meetsConstraints, namesOneNode, type NodeFacts } from '../swarm/placement.js'
import { planRestore } from './restore-plan.js'

/** What `rds recover --node` does for one service whose data was on the lost node. */
export interface RecoverStep {
  job: SwarmJob
  service?: SwarmService
  data?: SnapshotInfo
  dump?: SnapshotInfo
  /** The node it goes to. */
  target?: SwarmNode
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
 * and the node it would go to: `to`, or the ready node with the fewest tasks that its other
 * constraints allow. Nothing is changed.
 */
export async function planRecovery(
  docker: Docker,
  context: { jobs: SwarmJob[]; services: SwarmService[]; resticFor: (repoPath: string) => Restic; rejected: readonly string[] },
  lost: LostNode,
  options: { to?: SwarmNode; at?: Date },
  log: Logger,
): Promise<RecoverStep[]> {
  const facts = (await docker.listNodes()) as (NodeFacts & { Status?: { State?: string }; Spec?: { Availability?: string } })[]
  const nodes = nameNodes(facts as Parameters<typeof nameNodes>[0])
  const usable = facts.filter((node) => node.ID !== lost.id && node.Status?.State === 'ready' && (node.Spec?.Availability ?? 'active') === 'active')
  const load = new Map<string, number>()
  for (const service of context.services) for (const task of service.tasks) load.set(task.nodeId, (load.get(task.nodeId) ?? 0) + 1)
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
    if (options.to) {
      step.target = options.to
      continue
    }
    if (moved && job.node) {
      // Restored where Swarm runs it now (in place, with a safety snapshot of what it holds there).
      step.target = nodes.find((node) => node.id === job.node!.nodeId)
      if (step.target) continue
    }
    try {
      const others = constraints.filter((constraint) => !namesOneNode(constraint))
      const allowed = usable.filter((node) => meetsConstraints(node, others)).sort((a, b) => (load.get(a.ID) ?? 0) - (load.get(b.ID) ?? 0))
      step.target = allowed[0] && nodes.find((node) => node.id === allowed[0]!.ID)
      if (!step.target) step.problem = `no node that is ready and active meets its constraints (${others.join(', ') || 'none'}); name one with --to.`
    } catch (error) {
      step.problem = `${(error as Error).message}; name the node with --to.`
    }
    if (step.target) load.set(step.target.id, (load.get(step.target.id) ?? 0) + 1)
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
