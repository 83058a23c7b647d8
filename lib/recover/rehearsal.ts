import type Docker from 'dockerode'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { STACK_LABEL, type ServiceDefinition } from '../swarm/definition.js'
import type { LabelDefaults } from '../swarm/labels.js'
import { settled } from '../swarm/scale.js'
import { surveyNodes } from '../swarm/volume-survey.js'
import type { SavedStack } from './definitions.js'
import { rehearsalCopy } from './rehearsal-copy.js'
import { removeVolumesOnNode, runProbe } from './service-jobs.js'
import { restoreStack } from './stack-restore.js'
import type { SwarmJobs } from './volume-job.js'

/** What a rehearsal found: whether the copy came up whole, one line per service, and the jobs whose stack it was. */
export interface Rehearsal {
  ok: boolean
  report: string[]
  copy: string
}

export const copyName = (stack: string) => `rehearsal-${stack}`

/** Removes a copy: its services, then its networks and configs, then its volumes on every node (by a job there). */
async function removeCopy(deps: SwarmJobs, copy: string, log: Logger, signal?: AbortSignal): Promise<void> {
  const { docker } = deps
  const mine = { filters: { label: [`${STACK_LABEL}=${copy}`] } }
  for (const service of (await docker.listServices(mine)) as { ID: string }[]) await docker.getService(service.ID).remove()
  // Their containers go first: a network or volume in use cannot be removed.
  for (const network of (await docker.listNetworks(mine)) as { Id: string }[]) {
    for (let tries = 0; ; tries++) {
      const failed = await docker.getNetwork(network.Id).remove().then(() => false, (error: { statusCode?: number }) => error.statusCode !== 404)
      if (!failed) break
      if (tries === 60) throw new Error(`network ${network.Id} of ${copy} is still in use after a minute`)
      await new Promise((done) => setTimeout(done, 1000))
    }
  }
  for (const config of (await docker.listConfigs(mine)) as { ID: string }[]) await docker.getConfig(config.ID).remove()
  const { surveys } = await surveyNodes(docker, deps.template, log, signal)
  for (const survey of surveys) {
    const names = survey.volumes.map((volume) => volume.name).filter((name) => name.startsWith(`${copy}_`))
    if (names.length > 0 && survey.nodeId) await removeVolumesOnNode(deps, survey.nodeId, names, log, signal)
  }
}

/** The node a service's running task is on. */
async function nodeOf(docker: Docker, service: string): Promise<string | undefined> {
  const tasks = (await docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } })) as { NodeID?: string; Status?: { State?: string } }[]
  return tasks.find((task) => task.Status?.State === 'running')?.NodeID
}

/**
 * Rehearses a stack's restore: a copy of it (rehearsalCopy: renamed, on one internal network, with
 * no published port and no rds label) made from its saved definitions as `rds stack restore` makes
 * a stack, its volumes restored from the newest accepted snapshots, its dumps loaded; every
 * service waited for until it runs (and is healthy, where it has a health check); each
 * rds.backup.rehearse.probe run in its copy. The copy is removed afterwards, whatever happened.
 */
export async function rehearseStack(
  deps: SwarmJobs & { resticFor: (repoPath: string) => Restic },
  saved: SavedStack,
  options: {
    stack: string
    env: Record<string, string | undefined>
    defaults: LabelDefaults
    rejected: readonly string[]
    probes: Map<string, { command: string; repoPath: string }>
    /** Holds the backups of the stack's services until their data is in the copy: resolves with what lets them go on. */
    holdBackups: () => Promise<() => Promise<void>>
  },
  log: Logger,
  signal?: AbortSignal,
): Promise<Rehearsal> {
  const copy = copyName(options.stack)
  // What an earlier rehearsal that was cut off left.
  await removeCopy(deps, copy, log, signal)
  const copied = rehearsalCopy(options.stack, copy, saved.definitions)
  const report: string[] = copied.left.map((name) => `${name}: left out of the copy (it mounts the Docker socket, so it could act on the real Swarm)`)
  let ok = true
  try {
    // Meanwhile no backup of the stack runs: its retention could forget the snapshots being restored.
    const release = await options.holdBackups()
    const made = await restoreStack(deps, { snapshot: saved.snapshot, definitions: copied.definitions }, { stack: copy, env: options.env, defaults: options.defaults, rejected: options.rejected, copy: { originals: copied.originals, volume: copied.volume } }, log, signal).finally(release)
    report.push(...made.report)
    ok = made.ok
    for (const [index, definition] of copied.definitions.entries()) {
      const original: ServiceDefinition = copied.originals[index]!
      const replicas = (definition.spec as { Mode?: { Replicated?: { Replicas?: number } } }).Mode?.Replicated?.Replicas
      try {
        if (replicas !== undefined) await settled(deps.docker, definition.name, replicas, { signal })
        const probe = options.probes.get(original.name)
        if (!probe) continue
        const nodeId = await nodeOf(deps.docker, definition.name)
        if (!nodeId) throw new Error(`its copy ${definition.name} has no running task to run its probe in`)
        await runProbe(deps, { service: definition.name, command: probe.command, repoPath: probe.repoPath, nodeId }, log, signal)
        report.push(`${original.name}: its probe passed in ${definition.name}`)
      } catch (error) {
        ok = false
        report.push(`${original.name}: FAILED: ${(error as Error).message}`)
      }
    }
  } catch (error) {
    ok = false
    report.push(`the copy could not be made: ${(error as Error).message}`)
  } finally {
    await removeCopy(deps, copy, log).catch((error: Error) => {
      ok = false
      report.push(`its copy ${copy} could not be removed whole: ${error.message}; remove it with docker stack rm ${copy}`)
    })
  }
  return { ok, report, copy }
}
