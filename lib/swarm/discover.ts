import { RESTORING_LABEL, type SwarmNode, type SwarmService, type TaskPlacement } from './cluster.js'
import { ConfigError } from '../errors.js'
import { spreadSchedule } from '../config/spread-schedule.js'
import { LABEL, serviceBackup, type LabelDefaults, type ServiceBackup } from './labels.js'
import { restoringOnLabel, stoppedOn, stoppedOnLabel } from './node-stop.js'

/** One backup the controller schedules: a labelled service, on the node that holds its data. */
export interface SwarmJob {
  /**
   * The job's name and its snapshots' --host: the service, stable wherever it runs; or
   * <service>@<node> for a service whose every node has its own data (SwarmService.perNode).
   */
  name: string
  service: string
  /** Where the job runs; undefined while the service has no running task (nothing to back up). */
  node?: TaskPlacement
  /** A job of one node of a per-node service: it keeps its node, and its name, while its task is gone. */
  perNode?: boolean
  /** A per-node job kept while the service has no task on its node. */
  taskGone?: boolean
  /** Why the job cannot run on its node now (the node is down, its task is gone), as one sentence. */
  unavailable?: string
  /** What to back up, how and when; undefined when a label is bad. */
  backup?: ServiceBackup
  /** A bad label, as one sentence naming the service, the label and the value. */
  error?: string
  /** The service's image: its restore drill's command runs in it. */
  image?: string
  /** Its RESTORING_LABEL: an in-place restore is rewriting its data, or was cut off doing so. */
  restoring?: string
}

/** A node that holds backed-up data of a per-node service: its job stays while its task is gone. */
export interface KeptNode {
  service: string
  nodeId: string
}

const downSentence = (service: string, node: SwarmNode) =>
  `node ${node.name} is ${node.state}, so the data of service ${service} on it cannot be backed up until the node is back (or is removed from the Swarm with docker node rm).`

/** The jobs of one per-node service: one for each node it runs on, and one for each node it ran on and left data on. */
function perNodeJobs(service: SwarmService, backup: ServiceBackup, nodes: Map<string, SwarmNode>, kept: KeptNode[]): SwarmJob[] {
  const running = new Set(service.tasks.map((task) => task.nodeId))
  // A node an in-place restore stops it on keeps its job, whatever was saved there: the restore is run by that job's name.
  const keptHere = [...kept.filter((entry) => entry.service === service.name).map((entry) => entry.nodeId), ...stoppedOn(service.serviceLabels)]
  // A node removed from the Swarm (docker node rm) is given up on purpose, and its job with it.
  const ids = [...new Set([...running, ...keptHere])].filter((id) => nodes.has(id) || running.has(id))
  return ids.map((id): SwarmJob => {
    const node = nodes.get(id) ?? { id, name: service.tasks.find((task) => task.nodeId === id)!.nodeName, state: 'ready', availability: 'active' }
    const unavailable =
      node.state !== 'ready'
        ? downSentence(service.name, node)
        : !running.has(id) && service.serviceLabels[stoppedOnLabel(id)] !== undefined
          ? `service ${service.name} is stopped on node ${node.name} by an in-place restore of its volumes there (${stoppedOnLabel(id)}); the controller starts it there again once the restore has ended, unless it was cut off while it rewrote them (then: rds restore --service ${service.name} --host ${service.name}@${node.name}).`
          : !running.has(id)
          ? `service ${service.name} has no running task on node ${node.name}${node.availability === 'active' ? '' : ` (the node's availability is ${node.availability})`}, so its data there is not backed up; start it there again, or end the job with rds jobs --forget ${service.name}@${node.name}.`
          : undefined
    const taskGone = !running.has(id) || undefined
    // An in-place restore of its volumes there stops it there (rds.stopped-on.NODE), and marks it while it rewrites them.
    const restoring = service.serviceLabels[restoringOnLabel(id)]
    return { name: `${service.name}@${node.name}`, service: service.name, node: { nodeId: id, nodeName: node.name }, perNode: true, taskGone, unavailable, backup, image: service.image, restoring }
  })
}

/**
 * The jobs of every labelled service; a service with a bad label is a job with an error, never a
 * throw. `nodes` are the Swarm's nodes (their state), `kept` the per-node jobs that saved data.
 */
export function discoverJobs(services: SwarmService[], defaults: LabelDefaults, nodes: SwarmNode[] = [], kept: KeptNode[] = []): SwarmJob[] {
  const nodesById = new Map(nodes.map((node) => [node.id, node]))
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
      if (service.perNode) {
        // On a Swarm of one node (pinned), scaling stops nothing on another node.
        if (backup.stop === 'scale' && !service.pinned) {
          const error = `service ${service.name}: label rds.backup.stop=scale stops every task, but its tasks may run on several nodes, each backed up by a job of its own; use rds.backup.stop=pause, or place the service on one node.`
          return [{ name: service.name, service: service.name, error }]
        }
        const jobs = perNodeJobs(service, backup, nodesById, kept)
        // Running nowhere yet (just created, every node drained): listed, like a service with no running task, until it runs.
        return jobs.length > 0 ? jobs : [{ name: service.name, service: service.name, backup, image: service.image }]
      }
      // A task on a node that is down lingers until Swarm has started its replacement: the replacement is where the data is.
      const up = service.tasks.find((task) => (nodesById.get(task.nodeId)?.state ?? 'ready') === 'ready')
      const node = up ?? service.tasks[0]
      const down = !up && node ? nodesById.get(node.nodeId) : undefined
      return [{ name: service.name, service: service.name, node, unavailable: down && downSentence(service.name, down), backup, image: service.image, restoring: service.serviceLabels[RESTORING_LABEL] }]
    })
    // An H in the schedule is a time of each job's own (a per-node service's nodes each have theirs).
    .map((job) => (job.backup ? { ...job, backup: { ...job.backup, schedule: spreadSchedule(job.backup.schedule, job.name, `${LABEL}.run-at`) } } : job))
    .sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * Whether a labelled service waits for tasks: one with no running task, with tasks Swarm is still
 * starting, or stopped on a node by a restore there that is not rewriting its volumes (one that
 * ended, or was cut off, leaves the stop for the controller to lift). A task that starts, or a
 * command that dies, sends no service event: the controller looks again meanwhile.
 */
export function awaitingTasks(services: SwarmService[], jobs: SwarmJob[]): boolean {
  const starting = new Set(services.filter((service) => (service.starting ?? 0) > 0).map((service) => service.name))
  const unmarkedStop = services.some((service) => stoppedOn(service.serviceLabels).some((nodeId) => service.serviceLabels[restoringOnLabel(nodeId)] === undefined))
  return unmarkedStop || jobs.some((job) => job.backup && (!job.node || starting.has(job.service)))
}

/** What changed between two discoveries of one job, in words; empty when nothing did. */
export function describeChange(before: SwarmJob, after: SwarmJob): string[] {
  const changes: string[] = []
  if (before.error !== after.error && after.error) changes.push(after.error)
  if (before.backup?.schedule !== after.backup?.schedule && after.backup) changes.push(`schedule "${before.backup?.schedule ?? 'none'}" -> "${after.backup.schedule}"`)
  if (before.node?.nodeId !== after.node?.nodeId) changes.push(`node ${before.node?.nodeName ?? 'none'} -> ${after.node?.nodeName ?? 'none'}`)
  if (before.unavailable !== after.unavailable) changes.push(after.unavailable ?? `node ${after.node?.nodeName} can run it again`)
  if (before.backup && after.backup) {
    const changed = (Object.keys(after.backup) as (keyof ServiceBackup)[]).filter(
      (key) => key !== 'schedule' && JSON.stringify(before.backup![key]) !== JSON.stringify(after.backup![key]),
    )
    for (const key of changed) changes.push(`${key} ${JSON.stringify(before.backup[key])} -> ${JSON.stringify(after.backup[key])}`)
  }
  return changes
}
