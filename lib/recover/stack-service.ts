import type { ServiceDefinition } from '../swarm/definition.js'
import { STACK_LABEL } from '../swarm/definition.js'

// One service's Docker spec as a stack file's service entry: what `docker stack deploy` turns back into that spec.

// The labels `docker stack deploy` puts on what it makes, which it puts there again.
const STACK_OWN = /^com\.docker\.stack\./

/** A name as the stack file names it: without the `STACK_` that `docker stack deploy` adds. */
export const inStack = (stack: string, name: string) => (name.startsWith(`${stack}_`) ? name.slice(stack.length + 1) : name)

export const withoutStackLabels = (labels: Record<string, string> | undefined) => {
  const kept = Object.entries(labels ?? {}).filter(([key]) => !STACK_OWN.test(key))
  return kept.length > 0 ? Object.fromEntries(kept) : undefined
}

export const emptyToUndefined = <T extends object>(value: T | undefined) => (value && Object.keys(value).length > 0 ? value : undefined)

type Labels = Record<string, string>
interface Mount { Type?: string; Source?: string; Target?: string; ReadOnly?: boolean; VolumeOptions?: { NoCopy?: boolean; Labels?: Labels; DriverConfig?: { Name?: string; Options?: Labels } }; BindOptions?: { Propagation?: string }; TmpfsOptions?: { SizeBytes?: number; Mode?: number } }
interface FileRef { File?: { Name?: string; UID?: string; GID?: string; Mode?: number } }
interface Policy { Parallelism?: number; Delay?: number; FailureAction?: string; Monitor?: number; MaxFailureRatio?: number; Order?: string }
interface Resources { NanoCPUs?: number; MemoryBytes?: number; Pids?: number }
export interface Spec {
  Name?: string
  Labels?: Labels
  Mode?: { Replicated?: { Replicas?: number }; Global?: object; ReplicatedJob?: object; GlobalJob?: object }
  UpdateConfig?: Policy
  RollbackConfig?: Policy
  EndpointSpec?: { Mode?: string; Ports?: { Protocol?: string; TargetPort?: number; PublishedPort?: number; PublishMode?: string }[] }
  TaskTemplate?: {
    ContainerSpec?: {
      Image?: string; Command?: string[]; Args?: string[]; Env?: string[]; Dir?: string; User?: string; Hostname?: string; Labels?: Labels
      Init?: boolean; TTY?: boolean; OpenStdin?: boolean; ReadOnly?: boolean; StopSignal?: string; StopGracePeriod?: number
      Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number }
      Mounts?: Mount[]; Secrets?: (FileRef & { SecretName?: string })[]; Configs?: (FileRef & { ConfigID?: string; ConfigName?: string })[]
      DNSConfig?: { Nameservers?: string[]; Search?: string[]; Options?: string[] }; Hosts?: string[]; Sysctls?: Labels; CapabilityAdd?: string[]; CapabilityDrop?: string[]
      Ulimits?: { Name: string; Soft: number; Hard: number }[]; Isolation?: string
    } & Record<string, unknown>
    Resources?: { Limits?: Resources; Reservations?: Resources }
    RestartPolicy?: { Condition?: string; Delay?: number; MaxAttempts?: number; Window?: number }
    Placement?: { Constraints?: string[]; Preferences?: { Spread?: { SpreadDescriptor?: string } }[]; MaxReplicas?: number; Platforms?: unknown[] }
    Networks?: { Target?: string; Aliases?: string[] }[]
    LogDriver?: { Name?: string; Options?: Labels }
    ForceUpdate?: number
    Runtime?: string
  } & Record<string, unknown>
}

// What this file carries of a container spec, and of a task template; anything else set is named, never dropped in silence.
const CARRIED_CONTAINER = new Set(['Image', 'Command', 'Args', 'Env', 'Dir', 'User', 'Hostname', 'Labels', 'Init', 'TTY', 'OpenStdin', 'ReadOnly', 'StopSignal', 'StopGracePeriod', 'Healthcheck', 'Mounts', 'Secrets', 'Configs', 'DNSConfig', 'Hosts', 'Sysctls', 'CapabilityAdd', 'CapabilityDrop', 'Ulimits', 'Isolation'])
const CARRIED_TASK = new Set(['ContainerSpec', 'Resources', 'RestartPolicy', 'Placement', 'Networks', 'LogDriver', 'ForceUpdate', 'Runtime'])

const duration = (ns: number | undefined) => (ns === undefined ? undefined : `${Math.round(ns / 1e6)}ms`)
const nonEmpty = <T>(list: T[] | undefined) => (list && list.length > 0 ? list : undefined)
const isSet = (value: unknown): boolean =>
  value !== undefined && value !== null && value !== false && value !== '' && (typeof value !== 'object' || Object.values(value as object).some(isSet))

function policy(config: Policy | undefined) {
  if (!config) return undefined
  return { parallelism: config.Parallelism, delay: duration(config.Delay), failure_action: config.FailureAction, monitor: duration(config.Monitor), max_failure_ratio: config.MaxFailureRatio || undefined, order: config.Order }
}

function resources(value: Resources | undefined) {
  if (!value || !isSet(value)) return undefined
  return { cpus: value.NanoCPUs ? String(value.NanoCPUs / 1e9) : undefined, memory: value.MemoryBytes ? String(value.MemoryBytes) : undefined, pids: value.Pids || undefined }
}

const fileRef = (ref: FileRef) => ({ target: ref.File?.Name, uid: ref.File?.UID, gid: ref.File?.GID, mode: ref.File?.Mode })

/** A mount in the stack file's long syntax; a volume the stack made is named without its prefix, others are external. */
function mount(stack: string, entry: Mount, volumes: Record<string, unknown>) {
  const own = entry.Type === 'volume' && entry.Source !== undefined && (entry.VolumeOptions?.Labels?.[STACK_LABEL] === stack || entry.Source.startsWith(`${stack}_`))
  const source = entry.Type === 'volume' && entry.Source ? inStack(stack, entry.Source) : entry.Source
  if (entry.Type === 'volume' && entry.Source) {
    const driver = entry.VolumeOptions?.DriverConfig
    volumes[source!] = own ? { driver: driver?.Name, driver_opts: emptyToUndefined(driver?.Options), labels: withoutStackLabels(entry.VolumeOptions?.Labels) } : { external: true, name: entry.Source }
  }
  return {
    type: entry.Type,
    source,
    target: entry.Target,
    read_only: entry.ReadOnly || undefined,
    volume: entry.VolumeOptions?.NoCopy ? { nocopy: true } : undefined,
    bind: entry.BindOptions?.Propagation ? { propagation: entry.BindOptions.Propagation } : undefined,
    tmpfs: entry.TmpfsOptions?.SizeBytes ? { size: entry.TmpfsOptions.SizeBytes } : undefined,
  }
}

/** One service's entry, the volumes it names (added to `volumes`), and the names of its secrets. */
export function serviceEntry(stack: string, spec: Spec, definition: ServiceDefinition, notCarried: string[]) {
  const task = spec.TaskTemplate ?? {}
  const container = task.ContainerSpec ?? {}
  for (const key of Object.keys(container)) if (!CARRIED_CONTAINER.has(key) && isSet(container[key])) notCarried.push(`${definition.name}: ContainerSpec.${key}`)
  for (const key of Object.keys(task)) if (!CARRIED_TASK.has(key) && isSet(task[key])) notCarried.push(`${definition.name}: TaskTemplate.${key}`)
  if (spec.Mode?.ReplicatedJob || spec.Mode?.GlobalJob) notCarried.push(`${definition.name}: its job mode (a stack file knows replicated and global services only)`)
  if (isSet(task.Placement?.Platforms)) notCarried.push(`${definition.name}: TaskTemplate.Placement.Platforms`)
  const volumes: Record<string, unknown> = {}
  const health = container.Healthcheck
  const ports = spec.EndpointSpec?.Ports ?? []
  const service = {
    image: container.Image,
    entrypoint: nonEmpty(container.Command),
    command: nonEmpty(container.Args),
    environment: nonEmpty(container.Env),
    working_dir: container.Dir || undefined,
    user: container.User || undefined,
    hostname: container.Hostname || undefined,
    labels: withoutStackLabels(container.Labels),
    init: container.Init ?? undefined,
    tty: container.TTY || undefined,
    stdin_open: container.OpenStdin || undefined,
    read_only: container.ReadOnly || undefined,
    stop_signal: container.StopSignal || undefined,
    stop_grace_period: duration(container.StopGracePeriod),
    healthcheck: health && { test: health.Test, interval: duration(health.Interval), timeout: duration(health.Timeout), retries: health.Retries, start_period: duration(health.StartPeriod) },
    dns: nonEmpty(container.DNSConfig?.Nameservers),
    dns_search: nonEmpty(container.DNSConfig?.Search),
    // Docker keeps "IP host"; a stack file writes "host:IP".
    extra_hosts: nonEmpty(container.Hosts?.map((line) => line.split(/\s+/)).map(([ip, ...hosts]) => `${hosts.join(' ')}:${ip}`)),
    sysctls: emptyToUndefined(container.Sysctls),
    cap_add: nonEmpty(container.CapabilityAdd),
    cap_drop: nonEmpty(container.CapabilityDrop),
    ulimits: container.Ulimits?.length ? Object.fromEntries(container.Ulimits.map((limit) => [limit.Name, { soft: limit.Soft, hard: limit.Hard }])) : undefined,
    isolation: container.Isolation && container.Isolation !== 'default' ? container.Isolation : undefined,
    volumes: nonEmpty((container.Mounts ?? []).map((entry) => mount(stack, entry, volumes))),
    networks: nonEmpty((task.Networks ?? []).map((network) => definition.networks[network.Target ?? '']).filter(Boolean).map((network) => inStack(stack, network!.Name))),
    ports: nonEmpty(ports.map((port) => ({ target: port.TargetPort, published: port.PublishedPort, protocol: port.Protocol, mode: port.PublishMode }))),
    secrets: nonEmpty((container.Secrets ?? []).map((secret) => ({ source: inStack(stack, secret.SecretName ?? ''), ...fileRef(secret) }))),
    configs: nonEmpty((container.Configs ?? []).map((config) => ({ source: inStack(stack, definition.configs[config.ConfigID ?? '']?.Name ?? config.ConfigName ?? ''), ...fileRef(config) }))),
    logging: task.LogDriver?.Name ? { driver: task.LogDriver.Name, options: emptyToUndefined(task.LogDriver.Options) } : undefined,
    deploy: {
      mode: spec.Mode?.Global ? 'global' : 'replicated',
      replicas: spec.Mode?.Replicated?.Replicas,
      endpoint_mode: spec.EndpointSpec?.Mode,
      labels: withoutStackLabels(spec.Labels),
      placement: task.Placement && {
        constraints: nonEmpty(task.Placement.Constraints),
        preferences: nonEmpty(task.Placement.Preferences?.map((preference) => ({ spread: preference.Spread?.SpreadDescriptor }))),
        max_replicas_per_node: task.Placement.MaxReplicas || undefined,
      },
      update_config: policy(spec.UpdateConfig),
      rollback_config: policy(spec.RollbackConfig),
      restart_policy: task.RestartPolicy && { condition: task.RestartPolicy.Condition, delay: duration(task.RestartPolicy.Delay), max_attempts: task.RestartPolicy.MaxAttempts || undefined, window: duration(task.RestartPolicy.Window) },
      resources: (task.Resources?.Limits || task.Resources?.Reservations) && { limits: resources(task.Resources.Limits), reservations: resources(task.Resources.Reservations) },
    },
  }
  return { service, volumes, secrets: (container.Secrets ?? []).map((secret) => secret.SecretName ?? '').filter(Boolean) }
}
