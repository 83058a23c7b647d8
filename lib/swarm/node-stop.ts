import type Docker from 'dockerode'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { RESTORING_LABEL } from './cluster.js'
import { settled, updateService } from './scale.js'

/**
 * A global service has a task on every node and cannot be scaled: an in-place restore of one
 * node's volumes stops it there alone, with a placement constraint `node.id != NODE` (its tasks on
 * the other nodes run on; Swarm moves no task for a constraint they still meet). The service then
 * carries, per node (by node ID), `rds.stopped-on.NODE` (the constraint is rds's, to be lifted)
 * and, while the data there is being rewritten or was cut off half-way, `rds.restoring.NODE`: its
 * job there is neither backed up nor started again until a restore of it finishes.
 */
export const STOPPED_ON_LABEL = 'rds.stopped-on'
export const stoppedOnLabel = (nodeId: string) => `${STOPPED_ON_LABEL}.${nodeId}`
export const restoringOnLabel = (nodeId: string) => `${RESTORING_LABEL}.${nodeId}`
export const offNode = (nodeId: string) => `node.id != ${nodeId}`

/** The nodes a service is stopped on by rds (its rds.stopped-on.NODE labels). */
export const stoppedOn = (labels: Record<string, string> | undefined) =>
  Object.keys(labels ?? {}).filter((label) => label.startsWith(`${STOPPED_ON_LABEL}.`)).map((label) => label.slice(STOPPED_ON_LABEL.length + 1))

/**
 * Resolves once every task of the service on the node has ended, whatever Swarm wants of it (one
 * still starting may yet write); throws after five minutes.
 */
export const noTaskOn = (docker: Docker, name: string, nodeId: string, signal?: AbortSignal) => settled(docker, name, 0, { node: nodeId, writingOn: nodeId, signal })

/**
 * Stops a global service on one node (its constraint and rds.stopped-on.NODE, in one update);
 * resolves to its rds.restoring.NODE mark as that update found it: a restore of it there that was
 * cut off while it rewrote the volumes. Idempotent: a service stopped there already stays so. Its
 * task there ends a moment later: wait for it with noTaskOn.
 */
export async function stopOnNode(docker: Docker, name: string, nodeId: string, log: Logger): Promise<string | undefined> {
  let found: string | undefined
  await updateService(docker, name, (spec) => {
    if (spec.Mode?.Global === undefined) throw new RunError(`service ${name} is not global, so it is not stopped on one node.`)
    found = spec.Labels?.[restoringOnLabel(nodeId)]
    const constraints = spec.TaskTemplate?.Placement?.Constraints ?? []
    return {
      ...spec,
      Labels: { ...spec.Labels, [stoppedOnLabel(nodeId)]: 'restore' },
      TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: constraints.includes(offNode(nodeId)) ? constraints : [...constraints, offNode(nodeId)] } },
    }
  })
  log.info(`stop: ${name} stopped on node ${nodeId} (${offNode(nodeId)}) for the restore; its other tasks run on`)
  return found
}

/**
 * Marks the service as being restored on the node (rds.restoring.NODE = `why`) or, with undefined,
 * removes the mark: either only while rds's stop there holds, read in the same update. A docker
 * stack deploy meanwhile puts its own placement back (and labels): before the volumes are written,
 * they are then not written; after, its task there may have run on them while they were.
 */
export async function markRestoringOn(docker: Docker, name: string, nodeId: string, why: string | undefined): Promise<void> {
  await updateService(docker, name, (spec) => {
    if (spec.Labels?.[stoppedOnLabel(nodeId)] === undefined || !(spec.TaskTemplate?.Placement?.Constraints ?? []).includes(offNode(nodeId))) {
      throw new RunError(
        why === undefined
          ? `service ${name} is no longer stopped on node ${nodeId}: an update of it (such as a docker stack deploy) put its own placement back while its volumes there were written, so its task there may have run on them half-written.`
          : `service ${name} is no longer stopped on node ${nodeId} (an update of it, such as a docker stack deploy, put its own placement back), so its volumes there were not written.`,
      )
    }
    const labels = { ...spec.Labels }
    if (why === undefined) delete labels[restoringOnLabel(nodeId)]
    else labels[restoringOnLabel(nodeId)] = why
    return { ...spec, Labels: labels }
  })
}

/**
 * Lifts rds's stop of a service on one node (its constraint and rds.stopped-on.NODE), unless it is
 * marked restoring there, read in the same update: resolves to 'marked' then, 'started' when it
 * lifted it, and 'not stopped' when there was no stop of rds's to lift. With `wait`, waits until
 * its task there runs (unless marked).
 */
export async function startOnNode(docker: Docker, name: string, nodeId: string, log: Logger, wait: boolean, signal?: AbortSignal): Promise<'started' | 'marked' | 'not stopped'> {
  let outcome: 'started' | 'marked' | 'not stopped' = 'not stopped'
  await updateService(docker, name, (spec) => {
    outcome = 'not stopped'
    if (spec.Labels?.[restoringOnLabel(nodeId)] !== undefined) {
      outcome = 'marked'
      return spec
    }
    const constraints = spec.TaskTemplate?.Placement?.Constraints ?? []
    if (spec.Labels?.[stoppedOnLabel(nodeId)] === undefined && !constraints.includes(offNode(nodeId))) return spec
    const labels = { ...spec.Labels }
    delete labels[stoppedOnLabel(nodeId)]
    outcome = 'started'
    return { ...spec, Labels: labels, TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: constraints.filter((constraint) => constraint !== offNode(nodeId)) } } }
  })
  const result = outcome as 'started' | 'marked' | 'not stopped'
  if (result === 'marked') return result
  if (result === 'started') log.info(`stop: ${name} may run on node ${nodeId} again`)
  if (wait) {
    await settled(docker, name, 1, { node: nodeId, writingOn: nodeId, signal })
    log.info(`stop: ${name} runs on node ${nodeId} again`)
  }
  return result
}
