import type Docker from 'dockerode'
import { ConfigError } from '../errors.js'
import type { ServiceDefinition } from './definition.js'
import { STACK_LABEL } from './definition.js'

/** What a stack's saved specs name by ID, and the IDs those things have on this Swarm. */
export interface StackObjects {
  networks: Map<string, string>
  /** By the ID a config was saved with: its ID and name here. */
  configs: Map<string, { id: string; name: string }>
  secrets: Map<string, string>
  /** What was created here (networks and configs the stack made), to be removed if the restore fails. */
  created: { networks: string[]; configs: string[] }
}

/**
 * Makes what a stack's services need on this Swarm, from their saved definitions: the networks and
 * configs the stack made (with their labels, so that docker stack knows them), external ones and
 * secrets found by name. Missing secrets or external networks are refused, all named, before
 * anything is made.
 */
export async function makeStackObjects(docker: Docker, stack: string, definitions: ServiceDefinition[]): Promise<StackObjects> {
  const objects: StackObjects = { networks: new Map(), configs: new Map(), secrets: new Map(), created: { networks: [], configs: [] } }
  const secretNames = [...new Set(definitions.flatMap((definition) => ((definition.spec as SpecRefs).TaskTemplate?.ContainerSpec?.Secrets ?? []).map((secret) => secret.SecretName ?? '')))].filter(Boolean)
  const secrets = (await docker.listSecrets()) as { ID: string; Spec?: { Name?: string } }[]
  const networksHere = (await docker.listNetworks()) as { Id: string; Name: string }[]
  const savedNetworks = new Map(definitions.flatMap((definition) => Object.entries(definition.networks)))
  const missingSecrets = secretNames.filter((name) => !secrets.some((secret) => secret.Spec?.Name === name))
  const missingNetworks = [...savedNetworks.values()].filter((network) => network.Labels?.[STACK_LABEL] !== stack && !networksHere.some((here) => here.Name === network.Name)).map((network) => network.Name)
  if (missingSecrets.length > 0 || missingNetworks.length > 0) {
    const needs = [...missingSecrets.map((name) => `secret ${name} (docker secret create ${name} FILE)`), ...missingNetworks.map((name) => `network ${name} (docker network create --driver overlay ${name})`)]
    throw new ConfigError(`stack ${stack} needs what this Swarm does not have: ${needs.join(', ')}; create them first, then run this again.`)
  }
  for (const name of secretNames) objects.secrets.set(name, secrets.find((secret) => secret.Spec?.Name === name)!.ID)
  for (const [oldId, network] of savedNetworks) {
    const here = networksHere.find((candidate) => candidate.Name === network.Name)
    if (here) objects.networks.set(oldId, here.Id)
    else {
      const made = (await docker.createNetwork({ Name: network.Name, Driver: network.Driver, Attachable: network.Attachable, Internal: network.Internal, Labels: network.Labels, Options: network.Options, CheckDuplicate: true })) as { id: string }
      objects.networks.set(oldId, made.id)
      objects.created.networks.push(made.id)
    }
  }
  const configsHere = (await docker.listConfigs()) as { ID: string; Spec?: { Name?: string; Data?: string } }[]
  for (const [oldId, config] of definitions.flatMap((definition) => Object.entries(definition.configs))) {
    if (objects.configs.has(oldId)) continue
    const here = configsHere.find((candidate) => candidate.Spec?.Name === config.Name)
    if (here && here.Spec?.Data !== config.Data) throw new ConfigError(`config ${config.Name} exists on this Swarm with another content than the saved one; remove or rename it, then run this again.`)
    if (here) objects.configs.set(oldId, { id: here.ID, name: config.Name })
    else {
      const made = (await docker.createConfig({ Name: config.Name, Labels: config.Labels, Data: config.Data })) as { id: string }
      objects.configs.set(oldId, { id: made.id, name: config.Name })
      objects.created.configs.push(made.id)
    }
  }
  return objects
}

interface SpecRefs {
  TaskTemplate?: {
    ContainerSpec?: { Secrets?: { SecretID?: string; SecretName?: string }[]; Configs?: { ConfigID?: string; ConfigName?: string }[] }
    Networks?: { Target?: string }[]
  }
}

/** A saved spec with this Swarm's IDs in place of those it was saved with. */
export function withObjects(spec: Record<string, unknown>, objects: StackObjects): Record<string, unknown> {
  const copy = structuredClone(spec) as SpecRefs & Record<string, unknown>
  const container = copy.TaskTemplate?.ContainerSpec
  for (const secret of container?.Secrets ?? []) secret.SecretID = objects.secrets.get(secret.SecretName ?? '')
  for (const config of container?.Configs ?? []) {
    const here = objects.configs.get(config.ConfigID ?? '')
    config.ConfigID = here?.id
    config.ConfigName = here?.name
  }
  for (const network of copy.TaskTemplate?.Networks ?? []) network.Target = objects.networks.get(network.Target ?? '')
  return copy
}

/** Removes the networks and configs a failed restore made (best effort: what cannot be removed is said by the caller). */
export async function removeStackObjects(docker: Docker, objects: StackObjects): Promise<void> {
  for (const id of objects.created.configs) await docker.getConfig(id).remove()
  for (const id of objects.created.networks) await docker.getNetwork(id).remove()
}
