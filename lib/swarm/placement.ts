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
    // Decided anew by each attempt: an update overtaken is made again from the new version.
    pinned = false
    const constraints = spec.TaskTemplate?.Placement?.Constraints ?? []
    if (constraints.some((constraint) => ONE_NODE.test(constraint))) return spec
    pinned = true
    return { ...spec, TaskTemplate: { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Constraints: [...constraints, `node.id == ${nodeId}`] } } }
  })
  return pinned
}

/** What a placement constraint can be held against: a node as `docker node inspect` shows it. */
export interface NodeFacts {
  ID: string
  Description?: { Hostname?: string; Platform?: { OS?: string; Architecture?: string }; Engine?: { Labels?: Record<string, string> } }
  Spec?: { Role?: string; Labels?: Record<string, string> }
}

// A constraint as Swarm writes them: a key, == or !=, a value.
const CONSTRAINT = /^\s*([\w.-]+)\s*(==|!=)\s*(.*?)\s*$/

/** The value a node has for a constraint's key; undefined for a key rds does not know. */
function factOf(node: NodeFacts, key: string): string | undefined | null {
  if (key === 'node.id') return node.ID
  if (key === 'node.hostname') return node.Description?.Hostname ?? ''
  if (key === 'node.role') return node.Spec?.Role ?? ''
  if (key === 'node.platform.os') return node.Description?.Platform?.OS ?? ''
  if (key === 'node.platform.arch') return node.Description?.Platform?.Architecture ?? ''
  if (key.startsWith('node.labels.')) return node.Spec?.Labels?.[key.slice('node.labels.'.length)] ?? null
  if (key.startsWith('engine.labels.')) return node.Description?.Engine?.Labels?.[key.slice('engine.labels.'.length)] ?? null
  return undefined
}

/**
 * Whether a node meets every constraint (as Swarm's scheduler reads them: a missing label equals
 * nothing); throws for a constraint rds cannot read, so that no node is chosen on a guess.
 */
export function meetsConstraints(node: NodeFacts, constraints: string[]): boolean {
  return constraints.every((constraint) => {
    const [, key, operator, value] = CONSTRAINT.exec(constraint) ?? []
    const fact = key === undefined ? undefined : factOf(node, key)
    if (fact === undefined) throw new Error(`the constraint "${constraint}" is not one rds can check`)
    const equal = fact !== null && fact.toLowerCase() === value!.toLowerCase()
    return operator === '==' ? equal : !equal
  })
}

/** Whether a constraint names one node (node.hostname or node.id ==): what placeOn replaces. */
export const namesOneNode = (constraint: string) => ONE_NODE.test(constraint)
