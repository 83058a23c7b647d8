import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { FINAL_STATES } from './job-task.js'
import { RESTORING_LABEL } from './cluster.js'

/**
 * The label a service scaled to 0 for a backup carries, with its replica count: written in the
 * same update that scales it, so that a controller that crashed mid-backup scales it back at start.
 */
export const SCALED_FROM_LABEL = 'rds.scaled-from'
// How long the service's tasks get to stop, or to start again.
const SETTLE_TIMEOUT_MS = 5 * 60_000
const POLL_MS = 500

interface ServiceInfo {
  Version?: { Index?: number }
  Spec: {
    Name?: string
    Labels?: Record<string, string>
    Mode?: { Replicated?: { Replicas?: number }; Global?: unknown }
    TaskTemplate?: { Placement?: { Constraints?: string[] } & Record<string, unknown> } & Record<string, unknown>
  }
}

// How often an update that another one overtook ("update out of sequence") is tried again, from the service's new version.
const UPDATE_TRIES = 5

/**
 * Writes a service's spec back with changes, as `docker service update` does (at its current
 * version); an update that another one overtook is made again from the new version, `change` and all
 * (so whatever `change` records of the spec, it records anew on each call).
 */
export async function updateService(docker: Docker, name: string, change: (spec: ServiceInfo['Spec']) => ServiceInfo['Spec']): Promise<void> {
  const service = docker.getService(name)
  for (let attempt = 1; ; attempt++) {
    const info = (await service.inspect()) as ServiceInfo
    try {
      return void (await service.update({ version: info.Version?.Index, ...change(structuredClone(info.Spec)) }))
    } catch (error) {
      if (attempt === UPDATE_TRIES || !/out of sequence/i.test((error as Error).message)) throw error
      await sleep(POLL_MS * attempt)
    }
  }
}

/** Which of a service's tasks settled() counts. */
export interface SettleScope {
  /** Only its tasks on this node (ID). */
  node?: string
  /** The node whose volumes are about to be written: its tasks count even while it seems down. */
  writingOn?: string
  signal?: AbortSignal
}

/**
 * Resolves once the service has this many running tasks and none stopping, or with 0 once every
 * task has ended, whatever Swarm wants of it (one still starting may yet write); throws after
 * SETTLE_TIMEOUT_MS. A task on a node that is down (or gone) is left out, as the manager goes on
 * showing it as it last heard of it, running, until the node is back (and then stops it): unless
 * it is on `writingOn`, where a node that only seems down for a moment may still run it.
 */
export async function settled(docker: Docker, name: string, replicas: number, scope: SettleScope = {}): Promise<void> {
  const { node, writingOn, signal } = scope
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  for (;;) {
    const [listed, nodes] = await Promise.all([
      docker.listTasks({ filters: { service: [name], ...(node ? { node: [node] } : {}) } }) as Promise<{ NodeID?: string; DesiredState?: string; Status?: { State?: string } }[]>,
      docker.listNodes() as Promise<{ ID: string; Status?: { State?: string } }[]>,
    ])
    const ready = new Set(nodes.filter((each) => each.Status?.State === 'ready').map((each) => each.ID))
    const tasks = listed.filter((task) => !task.NodeID || ready.has(task.NodeID) || task.NodeID === writingOn)
    const running = tasks.filter((task) => task.Status?.State === 'running').length
    const live = tasks.filter((task) => !FINAL_STATES.has(task.Status?.State ?? '')).length
    const stopping = tasks.filter((task) => task.DesiredState !== 'running' && !FINAL_STATES.has(task.Status?.State ?? '')).length
    if (replicas === 0 ? live === 0 : running === replicas && stopping === 0) return
    if (Date.now() > deadline) {
      const where = node ? ` on node ${node}` : ''
      // Whether Swarm itself still wants them (another update scaled the service) or its node has not stopped them (moby#36527).
      const why = stopping > 0 ? ` (${stopping} that Swarm wants shut down)` : ''
      throw new RunError(`service ${name} still has ${running} running and ${live - running} other live task(s)${why}${where} after ${SETTLE_TIMEOUT_MS / 60_000} minutes, where ${replicas} running ${replicas === 1 ? 'was' : 'were'} expected; see docker service ps ${name}.`)
    }
    await sleep(POLL_MS, undefined, signal ? { signal } : undefined)
  }
}

/**
 * Scales a replicated service to 0 and waits until its containers are gone; resolves to its
 * replica count before. The count is recorded on the service first (SCALED_FROM_LABEL), in the
 * same update, so that scaleBack can restore it whoever runs it.
 */
export async function scaleDown(docker: Docker, name: string, log: Logger, writingOn?: string): Promise<number> {
  let replicas = 0
  await updateService(docker, name, (spec) => {
    if (spec.Mode?.Replicated === undefined) throw new RunError(`service ${name} is not replicated, so it cannot be scaled to 0 for the backup.`)
    // Already scaled down by a run that crashed: its recorded count is the real one.
    const recorded = spec.Labels?.[SCALED_FROM_LABEL]
    replicas = recorded !== undefined ? Number(recorded) : (spec.Mode.Replicated.Replicas ?? 1)
    return { ...spec, Labels: { ...spec.Labels, [SCALED_FROM_LABEL]: String(replicas) }, Mode: { Replicated: { Replicas: 0 } } }
  })
  log.info(`stop: scaling ${name} from ${replicas} replica(s) to 0 for the backup`)
  await settled(docker, name, 0, { writingOn })
  log.info(`stop: ${name} has no running container`)
  return replicas
}

// How often, and how far apart, a scale-back that fails (a concurrent docker stack deploy updated the service) is tried again.
const SCALE_BACK_TRIES = 6
const SCALE_BACK_FIRST_WAIT_MS = 1000

/**
 * Scales a service back to the replica count recorded on it, removes the record, and waits for its
 * tasks to run. An update that fails (another update of the service came first) is tried again,
 * from the service's new version, waiting longer each time; while the record remains, the
 * controller tries again at its next discovery too (Controller.mendScaledServices).
 */
export async function scaleBack(docker: Docker, name: string, log: Logger, writingOn?: string): Promise<void> {
  let replicas: number | undefined
  const update = () =>
    updateService(docker, name, (spec) => {
      const recorded = spec.Labels?.[SCALED_FROM_LABEL]
      replicas = undefined
      if (recorded === undefined) return spec
      replicas = Number(recorded)
      const labels = { ...spec.Labels }
      delete labels[SCALED_FROM_LABEL]
      return { ...spec, Labels: labels, Mode: { Replicated: { Replicas: replicas } } }
    })
  for (let attempt = 1, wait = SCALE_BACK_FIRST_WAIT_MS; ; attempt++, wait *= 2) {
    try {
      await update()
      break
    } catch (error) {
      if (attempt === SCALE_BACK_TRIES) throw error
      log.warn(`stop: could not scale ${name} back (${(error as Error).message}); trying again in ${wait / 1000} s`)
      await sleep(wait)
    }
  }
  if (replicas === undefined) return
  log.info(`stop: scaling ${name} back to ${replicas} replica(s)`)
  await settled(docker, name, replicas, { writingOn })
  log.info(`stop: ${name} runs ${replicas} replica(s) again`)
}

/** Sets a label of a service (or removes it, with undefined), as `docker service update --label-add` does. */
export async function setServiceLabel(docker: Docker, name: string, label: string, value: string | undefined): Promise<void> {
  await updateService(docker, name, (spec) => {
    const labels = { ...spec.Labels }
    if (value === undefined) delete labels[label]
    else labels[label] = value
    return { ...spec, Labels: labels }
  })
}

/** What to say of a service left at 0 by an in-place restore that was cut off: it stays at 0. */
export const interruptedRestore = (name: string, label: string, job = name) =>
  job === name
    ? `service ${name} is being restored in place, or its restore was cut off (${RESTORING_LABEL}=${label}); it is neither backed up nor scaled back until a restore of it finishes: run rds restore --service ${name} (again).`
    : `service ${name} is being restored in place on the node of ${job}, or its restore there was cut off (${label}); it is neither backed up nor started there until a restore of it there finishes: run rds restore --service ${name} --host ${job} (again).`

/** Scales back every service a crashed controller left at 0 (not one an in-place restore left): at start, before any run. */
export async function restoreScaledServices(docker: Docker, log: Logger): Promise<void> {
  const left = (await docker.listServices({ filters: { label: [SCALED_FROM_LABEL] } })) as { Spec?: { Name?: string; Labels?: Record<string, string> } }[]
  for (const service of left) {
    const name = service.Spec?.Name
    if (!name) continue
    const restoring = service.Spec?.Labels?.[RESTORING_LABEL]
    if (restoring !== undefined) {
      log.error(`controller: ${interruptedRestore(name, restoring)}`)
      continue
    }
    log.warn(`controller: ${name} was left scaled to 0 by a backup that did not end; scaling it back`)
    await scaleBack(docker, name, log).catch((error: Error) => log.error(`controller: could not scale ${name} back: ${error.message}`))
  }
}
