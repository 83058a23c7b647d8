import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { RESTORING_LABEL } from './cluster.js'
import { FINAL_STATES } from './job-task.js'
import { updateService } from './scale.js'

/**
 * A global service has a task on every node and cannot be scaled: an in-place restore of one
 * node's volumes stops it there alone, with a placement constraint `node.id != NODE` (its tasks on
 * the other nodes run on; Swarm moves no task for a constraint they still meet). The service then
 * carries, per node, `rds.stopped-on.NODE` (the constraint is rds's, to be lifted) and, while the
 * data there is being rewritten or was cut off half-way, `rds.restoring.NODE`: its job there is
 * neither backed up nor started again until a restore of it finishes.
 */
export const STOPPED_ON_LABEL = 'rds.stopped-on'
export const stoppedOnLabel = (nodeId: string) => `${STOPPED_ON_LABEL}.${nodeId}`
export const restoringOnLabel = (nodeId: string) => `${RESTORING_LABEL}.${nodeId}`
export const offNode = (nodeId: string) => `node.id != ${nodeId}`

const SETTLE_TIMEOUT_MS = 5 * 60_000
const POLL_MS = 500

/** The nodes a service is stopped on by rds (its rds.stopped-on.NODE labels). */
export const stoppedOn = (labels: Record<string, string> | undefined) =>
  Object.keys(labels ?? {}).filter((label) => label.startsWith(`${STOPPED_ON_LABEL}.`)).map((label) => label.slice(STOPPED_ON_LABEL.length + 1))

/** Resolves once the service has `running` running tasks on the node and none stopping there; throws after five minutes. */
async function settledOn(docker: Docker, name: string, nodeId: string, running: 0 | 1, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  for (;;) {
    const tasks = (await docker.listTasks({ filters: { service: [name], node: [nodeId] } })) as { DesiredState?: string; Status?: { State?: string } }[]
    const up = tasks.filter((task) => task.Status?.State === 'running').length
    const stopping = tasks.filter((task) => task.DesiredState !== 'running' && !FINAL_STATES.has(task.Status?.State ?? '')).length
    if (up === running && stopping === 0) return
    if (Date.now() > deadline) throw new RunError(`service ${name} still has ${up} running and ${stopping} stopping task(s) on node ${nodeId} after ${SETTLE_TIMEOUT_MS / 60_000} minutes, where ${running} running was expected; see docker service ps ${name}.`)
    await sleep(POLL_MS, undefined, signal ? { signal } : undefined)
  }
}

/**
 * Stops a global service on one node and marks it restoring there (`why`), in one update, then
 * waits until its task there is gone. Idempotent: a service stopped there already stays so.
 */
export async function stopOnNode(docker: Docker, name: string, nodeId: string, why: string, log: Logger, signal?: AbortSignal): Promise<void> {
  await updateService(docker, name, (spec) => {
    if (spec.Mode?.Global === undefined) throw new RunError(`service ${name} is not global, so it is not stopped on one node.`)
    const constraints = spec.TaskTemplate?.Placement?.Constraints ?? []
    return {
      ...spec,
      Labels: { ...spec.Labels, [stoppedOnLabel(nodeId)]: 'restore', [restoringOnLabel(nodeId)]: why },
      TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: constraints.includes(offNode(nodeId)) ? constraints : [...constraints, offNode(nodeId)] } },
    }
  })
  log.info(`stop: ${name} stopped on node ${nodeId} (${offNode(nodeId)}) for the restore; its other tasks run on`)
  await settledOn(docker, name, nodeId, 0, signal)
  log.info(`stop: ${name} has no running container on node ${nodeId}`)
}

/** Sets (or, with undefined, removes) what a restore on the node is doing: its rds.restoring.NODE mark. */
export async function markRestoringOn(docker: Docker, name: string, nodeId: string, why: string | undefined): Promise<void> {
  await updateService(docker, name, (spec) => {
    const labels = { ...spec.Labels }
    if (why === undefined) delete labels[restoringOnLabel(nodeId)]
    else labels[restoringOnLabel(nodeId)] = why
    return { ...spec, Labels: labels }
  })
}

/**
 * Lifts rds's stop of a service on one node (its constraint and rds.stopped-on.NODE), unless it is
 * marked restoring there, read in the same update; resolves to whether it did. With `wait`, waits
 * until its task there runs again.
 */
export async function startOnNode(docker: Docker, name: string, nodeId: string, log: Logger, wait: boolean, signal?: AbortSignal): Promise<boolean> {
  let lifted = false
  await updateService(docker, name, (spec) => {
    if (spec.Labels?.[restoringOnLabel(nodeId)] !== undefined || spec.Labels?.[stoppedOnLabel(nodeId)] === undefined) return spec
    const labels = { ...spec.Labels }
    delete labels[stoppedOnLabel(nodeId)]
    lifted = true
    const constraints = (spec.TaskTemplate?.Placement?.Constraints ?? []).filter((constraint) => constraint !== offNode(nodeId))
    return { ...spec, Labels: labels, TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: constraints } } }
  })
  if (!lifted) return false
  log.info(`stop: ${name} may run on node ${nodeId} again`)
  if (wait) {
    await settledOn(docker, name, nodeId, 1, signal)
    log.info(`stop: ${name} runs on node ${nodeId} again`)
  }
  return true
}
