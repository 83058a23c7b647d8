import type Docker from 'dockerode'
import type { LabelledService } from '../jobs/labels.js'

/** The label every job service carries, so that leftovers of a crashed controller can be found. */
export const JOB_LABEL = 'rds.job'

/** A running task of a service, where it runs. */
export interface TaskPlacement {
  nodeId: string
  hostname: string
}

/** A Swarm service as a manager sees it: its labels, its volumes, and where its tasks run. */
export interface SwarmService extends LabelledService {
  id: string
  tasks: TaskPlacement[]
  /** The image its tasks run, as the spec names it: what a restore drill's command runs in. */
  image?: string
}

interface ServiceSpec {
  Name?: string
  Mode?: { Global?: unknown; Replicated?: { Replicas?: number } }
  Labels?: Record<string, string>
  TaskTemplate?: {
    ContainerSpec?: { Image?: string; Labels?: Record<string, string>; Mounts?: { Type?: string; Source?: string; VolumeOptions?: { DriverConfig?: { Name?: string; Options?: Record<string, string> } } }[] }
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

/**
 * Every service of the Swarm but rds's own job services, with the nodes its running tasks are on.
 * Only a manager answers this.
 */
export async function readSwarmServices(docker: Docker): Promise<SwarmService[]> {
  const [services, tasks, nodes] = await Promise.all([
    docker.listServices() as Promise<{ ID: string; Spec?: ServiceSpec }[]>,
    docker.listTasks({ filters: { 'desired-state': ['running'] } }) as Promise<{ ServiceID: string; NodeID?: string; Status?: { State?: string } }[]>,
    docker.listNodes() as Promise<{ ID: string; Description?: { Hostname?: string } }[]>,
  ])
  const hostnames = new Map(nodes.map((node) => [node.ID, node.Description?.Hostname ?? node.ID]))
  return services
    .filter((service) => service.Spec?.Labels?.[JOB_LABEL] === undefined)
    .map((service) => {
      const spec = service.Spec ?? {}
      const container = spec.TaskTemplate?.ContainerSpec ?? {}
      const named = (container.Mounts ?? []).filter((mount) => mount.Type === 'volume' && mount.Source)
      const volumes = named.map((mount) => mount.Source!)
      const sharedVolumes = named.filter((mount) => isShared(mount.VolumeOptions?.DriverConfig)).map((mount) => mount.Source!)
      // On a Swarm of one node, every task is on that node.
      const pinned = nodes.length === 1 || (spec.TaskTemplate?.Placement?.Constraints ?? []).some((constraint) => PINNING.test(constraint))
      const placements = tasks
        .filter((task) => task.ServiceID === service.ID && task.Status?.State === 'running' && task.NodeID)
        .map((task) => ({ nodeId: task.NodeID!, hostname: hostnames.get(task.NodeID!) ?? task.NodeID! }))
      return {
        id: service.ID,
        name: spec.Name ?? service.ID,
        stack: spec.Labels?.['com.docker.stack.namespace'],
        serviceLabels: spec.Labels ?? {},
        containerLabels: container.Labels ?? {},
        volumes: [...new Set(volumes)],
        tasks: placements,
        image: container.Image,
        global: spec.Mode?.Global !== undefined,
        pinned,
        sharedVolumes,
      }
    })
}
