import type Docker from 'dockerode'
import { JOB_LABEL, RESTORING_LABEL } from './cluster.js'
import { SCALED_FROM_LABEL } from './scale.js'
import { offNode, stoppedOn, stoppedOnLabel } from './node-stop.js'

/** The label Docker gives everything `docker stack deploy` makes: the stack's name. */
export const STACK_LABEL = 'com.docker.stack.namespace'

/**
 * What a service was, as saved with each of its backups: its spec as Docker holds it (the values of
 * secret-looking variables, and of any holding a URL with a password, left out), and what its spec names only by ID: its networks and the
 * content of its configs. Secrets are kept by name; their values never leave Docker.
 */
export interface ServiceDefinition {
  version: 1
  name: string
  stack?: string
  /** The service's spec (`docker service inspect`'s Spec), as it is when not stopped by rds. */
  spec: Record<string, unknown>
  /** Variables whose values were left out: they are named in the stack file for the deployer to set. */
  withheld: string[]
  networks: Record<string, { Name: string; Driver?: string; Attachable?: boolean; Internal?: boolean; Labels?: Record<string, string>; Options?: Record<string, string> }>
  configs: Record<string, { Name: string; Labels?: Record<string, string>; Data: string }>
}

// A variable whose value is a secret by its name (its _FILE variant names a file, and is kept).
const SECRET_NAME = /(PASSWORD|PASSWD|PASS$|PWD$|SECRET|TOKEN|_KEY$|^KEY$|PRIVATE|CREDENTIAL|AUTH|API_?KEY|DSN$|WEBHOOK|NOTIFY_URLS)/i

// A value with credentials in it, whatever its name: a URL with a password (postgres://app:pw@db/app).
const SECRET_VALUE = /:\/\/[^/\s:@]+:[^@\s]+@/

export const isSecretVariable = (name: string, value = '') => (!name.endsWith('_FILE') && SECRET_NAME.test(name)) || SECRET_VALUE.test(value)

interface Spec {
  Labels?: Record<string, string>
  Mode?: { Replicated?: { Replicas?: number } }
  TaskTemplate?: {
    ContainerSpec?: { Env?: string[]; Configs?: { ConfigID?: string }[] }
    Networks?: { Target?: string }[]
    Placement?: { Constraints?: string[] }
  }
}

/**
 * A service's definition now: its spec with the marks rds puts on a service it stops (the replica
 * count it had is put back), secret-looking variables withheld, its networks and configs read.
 */
export async function readDefinition(docker: Docker, name: string): Promise<ServiceDefinition> {
  const info = (await docker.getService(name).inspect()) as { Spec: Spec & Record<string, unknown> }
  const spec = structuredClone(info.Spec)
  const labels = { ...spec.Labels }
  const scaledFrom = labels[SCALED_FROM_LABEL]
  if (scaledFrom !== undefined && spec.Mode?.Replicated) spec.Mode.Replicated.Replicas = Number(scaledFrom)
  delete labels[SCALED_FROM_LABEL]
  delete labels[RESTORING_LABEL]
  // A global service an in-place restore stops on a node: the stop is no part of it.
  const stopped = stoppedOn(labels)
  for (const nodeId of stopped) delete labels[stoppedOnLabel(nodeId)]
  for (const label of Object.keys(labels)) if (label.startsWith(`${RESTORING_LABEL}.`)) delete labels[label]
  spec.Labels = labels
  const placement = spec.TaskTemplate?.Placement
  if (placement?.Constraints) placement.Constraints = placement.Constraints.filter((constraint) => !stopped.some((nodeId) => constraint === offNode(nodeId)))
  const container = spec.TaskTemplate?.ContainerSpec
  const withheld: string[] = []
  if (container?.Env) {
    container.Env = container.Env.filter((variable) => {
      const key = variable.split('=', 1)[0]!
      if (!isSecretVariable(key, variable.slice(key.length + 1))) return true
      withheld.push(key)
      return false
    })
  }
  const networks: ServiceDefinition['networks'] = {}
  for (const { Target } of spec.TaskTemplate?.Networks ?? []) {
    if (!Target) continue
    const network = (await docker.getNetwork(Target).inspect()) as ServiceDefinition['networks'][string]
    networks[Target] = { Name: network.Name, Driver: network.Driver, Attachable: network.Attachable, Internal: network.Internal, Labels: network.Labels, Options: network.Options }
  }
  const configs: ServiceDefinition['configs'] = {}
  for (const { ConfigID } of container?.Configs ?? []) {
    if (!ConfigID) continue
    const config = (await docker.getConfig(ConfigID).inspect()) as { Spec: { Name: string; Labels?: Record<string, string>; Data: string } }
    configs[ConfigID] = { Name: config.Spec.Name, Labels: config.Spec.Labels, Data: config.Spec.Data }
  }
  return { version: 1, name, stack: labels[STACK_LABEL], spec, withheld, networks, configs }
}

/**
 * The definitions a run saves: its service's, and, for a service of a stack, those of every service
 * of its stack (rds's job services left out), so that the stack comes back whole, with the services
 * that have no data of their own.
 */
export async function readStackDefinitions(docker: Docker, name: string): Promise<ServiceDefinition[]> {
  const own = await readDefinition(docker, name)
  if (!own.stack) return [own]
  const listed = (await docker.listServices({ filters: { label: [`${STACK_LABEL}=${own.stack}`] } })) as { Spec?: { Name?: string; Labels?: Record<string, string> } }[]
  const others = listed.filter((service) => service.Spec?.Name && service.Spec.Name !== name && service.Spec.Labels?.[JOB_LABEL] === undefined).map((service) => service.Spec!.Name!)
  const definitions = [own]
  for (const other of others.sort()) {
    // One removed since it was listed is no longer of the stack.
    const read = await readDefinition(docker, other).catch((error: { statusCode?: number }) => (error.statusCode === 404 ? undefined : Promise.reject(error)))
    if (read) definitions.push(read)
  }
  return definitions
}
