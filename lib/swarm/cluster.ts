import type Docker from 'dockerode'
import { FINAL_STATES } from './job-task.js'

/** What a service's labels are read from: one Swarm service, as a manager sees it. */
export interface LabelledService {
  /** In full, with the stack prefix (app_db). */
  name: string
  /** The stack it was deployed in (com.docker.stack.namespace), if any. */
  stack?: string
  /** deploy.labels in a stack file: editing them restarts nothing. */
  serviceLabels: Record<string, string>
  /** labels: in a stack file, on every container of the service. */
  containerLabels: Record<string, string>
  /** The named volumes the service mounts, as the node names them (app_data). */
  volumes: string[]
  /** Where its containers mount each of them (app_data at /data), for paths the labels give in a container. */
  mountPoints?: { source: string; target: string }[]
  /** A global service (a task on every node), which cannot be scaled. */
  global?: boolean
  /** Whether its placement constraints pin it to one node (node.hostname == X, node.id == X). */
  pinned?: boolean
  /** Its named volumes of a driver other than local: the same data on every node. */
  sharedVolumes?: string[]
}

/** A volume a service's job backs up. */
export interface BackupVolume {
  /** As the stack file names it (data): stable, and the snapshot's path /volumes/<name>. */
  name: string
  /** As the node names it (app_data): what the job mounts. */
  source: string
}

/** The label every job service carries, so that leftovers of a crashed controller can be found. */
export const JOB_LABEL = 'rds.job'

/**
 * The label a service carries while an in-place restore rewrites its volumes, with what to put back
 * if it is cut off: such a service is neither backed up nor scaled back until someone finishes it.
 */
export const RESTORING_LABEL = 'rds.restoring'

/** A node of the Swarm, as the controller names it in job names and messages. */
export interface SwarmNode {
  id: string
  /**
   * Its host name; for a node whose host name an older node of the Swarm also has, the host name
   * and the start of its ID, so that two nodes never share a job (the older keeps the plain name).
   */
  name: string
  /** ready, down, unknown, disconnected: as the managers last heard from it. */
  state: string
  /** active, pause or drain. */
  availability: string
}

/** A node a service's task runs on (or ran on, for a job that keeps its node). */
export interface TaskPlacement {
  nodeId: string
  nodeName: string
}

/** A Swarm service as a manager sees it: its labels, its volumes, and where its tasks run. */
export interface SwarmService extends LabelledService {
  id: string
  tasks: TaskPlacement[]
  /** How many of its tasks Swarm wants running that do not run yet (pending, preparing, starting...). */
  starting?: number
  /** The image its tasks run, as the spec names it: what a restore drill's command runs in. */
  image?: string
  /**
   * Whether each node has its own data to back up, in a job of its own: a global service, or
   * replicas spread over nodes (more than one, not pinned to one node).
   */
  perNode: boolean
}

interface ServiceSpec {
  Name?: string
  Mode?: { Global?: unknown; Replicated?: { Replicas?: number } }
  Labels?: Record<string, string>
  TaskTemplate?: {
    ContainerSpec?: { Image?: string; Labels?: Record<string, string>; Mounts?: { Type?: string; Source?: string; Target?: string; VolumeOptions?: { DriverConfig?: { Name?: string; Options?: Record<string, string> } } }[] }
    Placement?: { Constraints?: string[] }
  }
}

/** A volume whose data is the same on every node: another driver than local, or local mounting NFS or CIFS. */
function isShared(driver: { Name?: string; Options?: Record<string, string> } | undefined): boolean {
  if ((driver?.Name ?? 'local') !== 'local') return true
  return /^(nfs4?|cifs|smb3?)$/.test(driver?.Options?.type ?? '')
}

// A placement constraint that names one node.
const PINNING = /^\s*node\.(hostname|id)\s*==\s*\S+\s*$/

interface NodeInfo {
  ID: string
  CreatedAt?: string
  Description?: { Hostname?: string }
  Status?: { State?: string }
  Spec?: { Availability?: string }
}

/** The Swarm's nodes, named uniquely: a host name shared by several nodes gets its ID's start on all but the oldest. */
export function nameNodes(nodes: NodeInfo[]): SwarmNode[] {
  const byAge = [...nodes].sort((a, b) => (a.CreatedAt ?? '').localeCompare(b.CreatedAt ?? '') || a.ID.localeCompare(b.ID))
  const taken = new Set<string>()
  const names = new Map<string, string>()
  for (const node of byAge) {
    const hostname = node.Description?.Hostname ?? node.ID
    names.set(node.ID, taken.has(hostname) ? `${hostname}-${node.ID.slice(0, 8)}` : hostname)
    taken.add(hostname)
  }
  return nodes.map((node) => ({ id: node.ID, name: names.get(node.ID)!, state: node.Status?.State ?? 'unknown', availability: node.Spec?.Availability ?? 'active' }))
}

/** Every service of the Swarm but rds's own job services (see readSwarm). */
export async function readSwarmServices(docker: Docker): Promise<SwarmService[]> {
  return (await readSwarm(docker)).services
}

/**
 * Every service of the Swarm but rds's own job services, with the nodes its running tasks are on,
 * and the Swarm's nodes. Only a manager answers this.
 */
export async function readSwarm(docker: Docker): Promise<{ services: SwarmService[]; nodes: SwarmNode[] }> {
  const [services, tasks, nodeInfos] = await Promise.all([
    docker.listServices() as Promise<{ ID: string; Spec?: ServiceSpec }[]>,
    docker.listTasks({ filters: { 'desired-state': ['running'] } }) as Promise<{ ServiceID: string; NodeID?: string; Status?: { State?: string } }[]>,
    docker.listNodes() as Promise<NodeInfo[]>,
  ])
  const nodes = nameNodes(nodeInfos)
  const names = new Map(nodes.map((node) => [node.id, node.name]))
  const swarmServices = services
    .filter((service) => service.Spec?.Labels?.[JOB_LABEL] === undefined)
    .map((service): SwarmService => {
      const spec = service.Spec ?? {}
      const container = spec.TaskTemplate?.ContainerSpec ?? {}
      const named = (container.Mounts ?? []).filter((mount) => mount.Type === 'volume' && mount.Source)
      const volumes = named.map((mount) => mount.Source!)
      const sharedVolumes = named.filter((mount) => isShared(mount.VolumeOptions?.DriverConfig)).map((mount) => mount.Source!)
      const constrained = (spec.TaskTemplate?.Placement?.Constraints ?? []).some((constraint) => PINNING.test(constraint))
      const global = spec.Mode?.Global !== undefined
      const own = tasks.filter((task) => task.ServiceID === service.ID)
      const placements = own
        .filter((task) => task.Status?.State === 'running' && task.NodeID)
        .map((task) => ({ nodeId: task.NodeID!, nodeName: names.get(task.NodeID!) ?? task.NodeID! }))
      const starting = own.filter((task) => task.Status?.State !== 'running' && !FINAL_STATES.has(task.Status?.State ?? '')).length
      return {
        id: service.ID,
        name: spec.Name ?? service.ID,
        stack: spec.Labels?.['com.docker.stack.namespace'],
        serviceLabels: spec.Labels ?? {},
        containerLabels: container.Labels ?? {},
        volumes: [...new Set(volumes)],
        mountPoints: named.filter((mount) => mount.Target).map((mount) => ({ source: mount.Source!, target: mount.Target! })),
        tasks: placements,
        starting,
        image: container.Image,
        global,
        // On a Swarm of one node, every task is on that node.
        pinned: nodes.length === 1 || constrained,
        // Decided by the spec, not by where tasks run now: a job's name never changes as replicas come and go.
        perNode: global || ((spec.Mode?.Replicated?.Replicas ?? 1) > 1 && !constrained),
        sharedVolumes,
      }
    })
  return { services: swarmServices, nodes }
}
