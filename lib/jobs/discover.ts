import type { SwarmService, TaskPlacement } from '../docker/swarm.js'
import { ConfigError } from '../errors.js'
import { serviceBackup, type LabelDefaults, type ServiceBackup } from './labels.js'

/** One backup the controller schedules: a labelled service, on the node that holds its data. */
export interface SwarmJob {
  /**
   * The job's name and its snapshots' --host: the service, stable wherever it runs; or
   * <service>@<node> for a service whose tasks run on several nodes, each with its own volumes.
   */
  name: string
  service: string
  /** Where the job runs; undefined while the service has no running task (nothing to back up). */
  node?: TaskPlacement
  /** What to back up, how and when; undefined when a label is bad. */
  backup?: ServiceBackup
  /** A bad label, as one sentence naming the service, the label and the value. */
  error?: string
  /** The service's image: its restore drill's command runs in it. */
  image?: string
}

/** The jobs of every labelled service; a service with a bad label is a job with an error, never a throw. */
export function discoverJobs(services: SwarmService[], defaults: LabelDefaults): SwarmJob[] {
  return services
    .flatMap((service): SwarmJob[] => {
      let backup: ServiceBackup | undefined
      try {
        backup = serviceBackup(service, defaults)
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error
        return [{ name: service.name, service: service.name, error: error.message }]
      }
      if (backup === undefined) return []
      const nodes = [...new Map(service.tasks.map((task) => [task.nodeId, task])).values()]
      if (backup.stop === 'scale' && nodes.length > 1) {
        const error = `service ${service.name}: label rds.backup.stop=scale stops every task, but its tasks run on ${nodes.length} nodes, each backed up by a job of its own; use rds.backup.stop=pause, or place the service on one node.`
        return [{ name: service.name, service: service.name, error }]
      }
      if (nodes.length <= 1) return [{ name: service.name, service: service.name, node: nodes[0], backup, image: service.image }]
      return nodes.map((node) => ({ name: `${service.name}@${node.hostname}`, service: service.name, node, backup, image: service.image }))
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}
