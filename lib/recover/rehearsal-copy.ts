import { STACK_LABEL, type ServiceDefinition } from '../swarm/definition.js'

/** The network every service of a rehearsal's copy is on, and only that one: internal, reaching nothing outside the copy. */
const COPY_NETWORK = 'rehearsal'
const DOCKER_SOCKETS = new Set(['/var/run/docker.sock', '/run/docker.sock'])

interface Mount { Type?: string; Source?: string; ReadOnly?: boolean; VolumeOptions?: { Labels?: Record<string, string> } }
interface Spec {
  Name?: string
  Labels?: Record<string, string>
  EndpointSpec?: { Mode?: string; Ports?: unknown[] }
  TaskTemplate?: {
    ContainerSpec?: { Labels?: Record<string, string>; Mounts?: Mount[] }
    Networks?: { Target?: string; Aliases?: string[] }[]
  }
}

// rds's own labels: the copy is never backed up, scheduled or rehearsed itself.
const withoutOwn = (labels: Record<string, string> | undefined, copy: string) => {
  const kept = Object.fromEntries(Object.entries(labels ?? {}).filter(([key]) => !key.startsWith('rds.')))
  if (kept[STACK_LABEL] !== undefined) kept[STACK_LABEL] = copy
  return kept
}

/**
 * A stack's definitions as a copy named `copy` that cannot touch the original or the outside: every
 * name the stack made renamed, its labels of rds dropped, no published port, one internal network
 * (each service reachable by its short name, as in its stack), every volume one of its own (an
 * external one too), bind mounts read-only; a service that mounts the Docker socket is left out.
 * Resolves with the originals copied (in the copies' order), those left out, and how a volume of
 * the original is named in the copy.
 */
export function rehearsalCopy(stack: string, copy: string, all: ServiceDefinition[]): { originals: ServiceDefinition[]; definitions: ServiceDefinition[]; left: string[]; volume: (source: string) => string } {
  // A service with the Docker socket could act on the real Swarm from the copy (rds's own controller does).
  const actsOnSwarm = (definition: ServiceDefinition) => ((definition.spec as Spec).TaskTemplate?.ContainerSpec?.Mounts ?? []).some((mount) => mount.Type === 'bind' && DOCKER_SOCKETS.has(mount.Source ?? ''))
  const definitions = all.filter((definition) => !actsOnSwarm(definition))
  const rename = (name: string) => (name.startsWith(`${stack}_`) ? `${copy}_${name.slice(stack.length + 1)}` : `${copy}_${name}`)
  const network = { Name: `${copy}_${COPY_NETWORK}`, Driver: 'overlay', Internal: true, Attachable: false, Labels: { [STACK_LABEL]: copy } }
  const copies = definitions.map((definition): ServiceDefinition => {
    const spec = structuredClone(definition.spec) as Spec & Record<string, unknown>
    const name = rename(definition.name)
    spec.Name = name
    spec.Labels = withoutOwn(spec.Labels, copy)
    if (spec.EndpointSpec) delete spec.EndpointSpec.Ports
    const task = (spec.TaskTemplate ??= {})
    const container = (task.ContainerSpec ??= {})
    container.Labels = withoutOwn(container.Labels, copy)
    for (const mount of container.Mounts ?? []) {
      if (mount.Type === 'volume' && mount.Source) {
        mount.Source = rename(mount.Source)
        if (mount.VolumeOptions?.Labels) mount.VolumeOptions.Labels = withoutOwn(mount.VolumeOptions.Labels, copy)
      }
      if (mount.Type === 'bind') mount.ReadOnly = true
    }
    const aliases = [...new Set((task.Networks ?? []).flatMap((entry) => entry.Aliases ?? []))]
    task.Networks = [{ Target: COPY_NETWORK, Aliases: aliases.length > 0 ? aliases : [definition.name.slice(stack.length + 1)] }]
    const configs = Object.fromEntries(Object.entries(definition.configs).map(([id, config]) => [id, { ...config, Name: rename(config.Name), Labels: withoutOwn(config.Labels, copy) }]))
    return { ...definition, name, stack: copy, spec, networks: { [COPY_NETWORK]: network }, configs }
  })
  return { originals: definitions, definitions: copies, left: all.filter(actsOnSwarm).map((definition) => definition.name), volume: rename }
}
