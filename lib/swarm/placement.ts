import type Docker from 'dockerode'
import { updateService } from './scale.js'

// A placement constraint that names one node (as cluster.ts reads a pinned service).
const ONE_NODE = /^\s*node\.(hostname|id)\s*==\s*\S+\s*$/

/**
 * Moves a service's tasks to one node: its constraints that name a node are replaced by
 * `node.id == NODE`, the others (a role, a label) kept. Resolves to the constraints it had, for
 * putting them back (setConstraints).
 */
export async function placeOn(docker: Docker, name: string, nodeId: string): Promise<string[]> {
  let before: string[] = []
  await updateService(docker, name, (spec) => {
    before = spec.TaskTemplate?.Placement?.Constraints ?? []
    const kept = before.filter((constraint) => !ONE_NODE.test(constraint))
    return { ...spec, TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: [...kept, `node.id == ${nodeId}`] } } }
  })
  return before
}

/** Sets a service's placement constraints (what placeOn gave back). */
export async function setConstraints(docker: Docker, name: string, constraints: string[]): Promise<void> {
  await updateService(docker, name, (spec) => ({ ...spec, TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: constraints } } }))
}

/**
 * Pins a service that no constraint places on one node to `node.id == NODE` (its other constraints
 * kept), so that a restore's data, written on that node, is where its task comes back; resolves to
 * whether it did. Meant for a service at 0 replicas: changing a running one's placement restarts it.
 */
export async function pinToNode(docker: Docker, name: string, nodeId: string): Promise<boolean> {
  let pinned = false
  await updateService(docker, name, (spec) => {
    const constraints = spec.TaskTemplate?.Placement?.Constraints ?? []
    if (constraints.some((constraint) => ONE_NODE.test(constraint))) return spec
    pinned = true
    return { ...spec, TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: [...constraints, `node.id == ${nodeId}`] } } }
  })
  return pinned
}
