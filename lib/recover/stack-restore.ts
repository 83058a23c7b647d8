import type Docker from 'dockerode'
import { ConfigError, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { restoreCommand } from '../dumps/presets.js'
import { nameNodes, type SwarmNode } from '../swarm/cluster.js'
import { STACK_LABEL, type ServiceDefinition } from '../swarm/definition.js'
import type { SwarmJob } from '../swarm/discover.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { serviceBackup, type LabelDefaults } from '../swarm/labels.js'
import { meetsConstraints, namesOneNode, type NodeFacts } from '../swarm/placement.js'
import { settled } from '../swarm/scale.js'
import { makeStackObjects, removeStackObjects, withObjects } from '../swarm/stack-objects.js'
import type { SavedStack } from './definitions.js'
import { planRestore, type RestorePlan } from './restore-plan.js'
import { loadDump } from './service-jobs.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'

interface Spec {
  Name: string
  Labels?: Record<string, string>
  Mode?: { Replicated?: { Replicas?: number }; Global?: object }
  TaskTemplate?: { ContainerSpec?: { Env?: string[]; Labels?: Record<string, string>; Mounts?: { Type?: string; Source?: string }[] }; Placement?: { Constraints?: string[] } }
}

/** One service of the stack as the restore brings it back: with its data (a labelled one) on a node, or without. */
interface Part {
  definition: ServiceDefinition
  spec: Spec
  job?: SwarmJob
  plan?: RestorePlan
  node?: SwarmNode
}

/** The job a saved definition's labels make (as discovery would), if it is labelled for backup. */
function jobOf(definition: ServiceDefinition, spec: Spec, defaults: LabelDefaults): SwarmJob | undefined {
  const container = spec.TaskTemplate?.ContainerSpec ?? {}
  const volumes = (container.Mounts ?? []).filter((mount) => mount.Type === 'volume' && mount.Source).map((mount) => mount.Source!)
  const constraints = spec.TaskTemplate?.Placement?.Constraints ?? []
  const backup = serviceBackup({ name: definition.name, stack: definition.stack, serviceLabels: spec.Labels ?? {}, containerLabels: container.Labels ?? {}, volumes, global: spec.Mode?.Global !== undefined, pinned: constraints.some(namesOneNode) }, defaults)
  return backup && { name: definition.name, service: definition.name, backup }
}

/** The node a service with data goes to: the one its constraints name, or `to`, or the least busy one they allow. */
function chooseNode(spec: Spec, facts: NodeFacts[], nodes: SwarmNode[], to: SwarmNode | undefined, load: Map<string, number>): SwarmNode {
  const constraints = spec.TaskTemplate?.Placement?.Constraints ?? []
  const usable = nodes.filter((node) => node.state === 'ready' && node.availability === 'active')
  const named = constraints.filter(namesOneNode)
  if (named.length > 0 && !to) {
    const fits = usable.find((node) => meetsConstraints(facts.find((fact) => fact.ID === node.id)!, named))
    if (!fits) throw new ConfigError(`service ${spec.Name} is placed by ${named.join(', ')}, and no node that is ready and active here is that one; name the node for it with --to.`)
    return fits
  }
  if (to) return to
  const others = constraints.filter((constraint) => !namesOneNode(constraint))
  const allowed = usable.filter((node) => meetsConstraints(facts.find((fact) => fact.ID === node.id)!, others)).sort((a, b) => (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0))
  if (!allowed[0]) throw new ConfigError(`no node that is ready and active meets the constraints of service ${spec.Name} (${others.join(', ') || 'none'}); name one with --to.`)
  return allowed[0]
}

/**
 * Brings a stack back on a Swarm that does not run it, from what its backups saved: the secrets
 * and external networks it names are checked first; its networks and configs made; each labelled
 * service's volumes restored straight into new volumes on its node (the one its constraints name,
 * or `to`, or the least busy one they allow); its services created from their saved specs (each
 * with data pinned to its node), withheld variables from `env`; then each dump loaded once its
 * service runs. A failure before the services run removes what was made but the restored volumes.
 */
export async function restoreStack(
  deps: SwarmJobs & { resticFor: (repoPath: string) => Restic },
  saved: SavedStack,
  options: {
    stack: string
    at?: Date
    to?: SwarmNode
    env: Record<string, string | undefined>
    defaults: LabelDefaults
    rejected: readonly string[]
    /** `saved` is a copy of these (in their order), whose volumes are named by `volume`. */
    copy?: { originals: ServiceDefinition[]; volume: (source: string) => string }
  },
  log: Logger,
  signal?: AbortSignal,
): Promise<{ report: string[]; ok: boolean }> {
  const { docker } = deps
  const { stack } = options
  const running = (await docker.listServices({ filters: { label: [`${STACK_LABEL}=${stack}`] } })) as unknown[]
  if (running.length > 0) throw new ConfigError(`stack ${stack} has ${running.length} service(s) on this Swarm already; restore them in place with rds restore --service, or remove the stack first (docker stack rm ${stack}).`)
  const withheld = [...new Set(saved.definitions.flatMap((definition) => definition.withheld))]
  const unset = withheld.filter((name) => options.env[name] === undefined)
  if (unset.length > 0) throw new ConfigError(`the values of ${unset.join(', ')} were not saved; give them to this command (docker exec -e NAME ...), then run it again.`)
  const facts = (await docker.listNodes()) as NodeFacts[]
  const nodes = nameNodes(facts as Parameters<typeof nameNodes>[0])
  const load = new Map<string, number>()
  const parts: Part[] = []
  for (const [index, definition] of saved.definitions.entries()) {
    const spec = structuredClone(definition.spec) as unknown as Spec
    // A copy (a rehearsal) has the data, and the labels, of the service it copies.
    const original = options.copy?.originals[index] ?? definition
    const job = jobOf(original, structuredClone(original.spec) as unknown as Spec, options.defaults)
    const part: Part = { definition, spec, job }
    if (job) {
      part.plan = await planRestore(deps.resticFor(job.backup!.repoPath), job, { snapshot: 'latest', at: options.at, rejected: options.rejected }, log)
      part.node = chooseNode(spec, facts, nodes, options.to, load)
      load.set(part.node.id, (load.get(part.node.id) ?? 0) + 1)
      if (part.plan.dump && !restoreCommand(job.backup!.dump?.preset)) throw new ConfigError(`the dump of ${definition.name} is not one rds loads into a running database (postgres, mysql or mariadb; a sqlite dump is loaded with rds restore-dump --service), so it cannot be part of this restore; restore the stack's volumes with rds restore --to-volume, and its dump with rds restore-dump --command.`)
    }
    parts.push(part)
  }
  const objects = await makeStackObjects(docker, stack, saved.definitions)
  const created: string[] = []
  const report: string[] = []
  try {
    for (const part of parts.filter((candidate) => candidate.plan?.data)) {
      for (const volume of part.job!.backup!.volumes) {
        const request = { name: `restore-${part.definition.name}-${volume.name}`, nodeId: part.node!.id, volume: options.copy?.volume(volume.source) ?? volume.source, repoPath: part.job!.backup!.repoPath, snapshotId: part.plan!.data!.id }
        await restoreVolumeOnNode(deps, { ...request, folder: `${VOLUMES_ROOT}/${volume.name}`, includes: [], excludes: [], force: true, delete: true }, log, signal)
      }
    }
    for (const part of parts) {
      const spec = withObjects(part.spec as unknown as Record<string, unknown>, objects) as unknown as Spec
      const container = spec.TaskTemplate!.ContainerSpec!
      container.Env = [...(container.Env ?? []), ...part.definition.withheld.map((name) => `${name}=${options.env[name]}`)]
      if (part.node) {
        const placement = (spec.TaskTemplate!.Placement ??= {})
        placement.Constraints = [...(placement.Constraints ?? []).filter((constraint) => !namesOneNode(constraint)), `node.id == ${part.node.id}`]
      }
      await docker.createService(spec as unknown as Docker.CreateServiceOptions)
      created.push(spec.Name)
      log.info(`stack: service ${spec.Name} created${part.node ? ` on ${part.node.name}` : ''}`)
    }
  } catch (error) {
    const undo = await Promise.all(created.map((name) => docker.getService(name).remove().then(() => undefined, (failure: Error) => `${name}: ${failure.message}`)))
    const left = [...undo.filter(Boolean), ...(await removeStackObjects(docker, objects).then(() => [], (failure: Error) => [failure.message]))]
    throw new RunError(`stack ${stack} could not be made (${(error as Error).message.replace(/\.$/, '')}); what it had made was removed${left.length > 0 ? `, but for: ${left.join('; ')}` : ''}, the restored volumes kept; run this again.`)
  }
  // Made: each service with data waited for, its dump loaded; one that fails is said, and the others go on.
  let ok = true
  for (const part of parts.filter((candidate) => candidate.job)) {
    const from = [part.plan?.data && `volumes from snapshot ${part.plan.data.short_id} of ${part.plan.data.time}`, part.plan?.dump && `dump from snapshot ${part.plan.dump.short_id} of ${part.plan.dump.time}`].filter(Boolean)
    try {
      await settled(docker, part.definition.name, part.spec.Mode?.Replicated?.Replicas ?? 1, { signal })
      if (part.plan?.dump) {
        const command = restoreCommand(part.job!.backup!.dump!.preset)!
        await loadDump(deps, part.job!, { snapshotId: part.plan.dump.id, target: part.definition.name, nodeId: part.node!.id, command, rejected: [] }, log, signal)
      }
      report.push(`${part.definition.name}: on ${part.node!.name}, ${from.join('; ')}`)
    } catch (error) {
      ok = false
      report.push(`${part.definition.name}: FAILED on ${part.node!.name} (${from.join('; ') || 'no data'}): ${(error as Error).message}`)
    }
  }
  for (const part of parts.filter((candidate) => !candidate.job)) report.push(`${part.definition.name}: created (no data of its own)`)
  return { report, ok }
}
