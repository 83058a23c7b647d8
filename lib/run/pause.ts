import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { HookEngine } from '../docker/engine.js'

/**
 * Containers of the service this node left paused: a run that pauses is the only thing that
 * does, so one found paused before a run is a run that was killed before it could unpause them.
 */
export async function unpauseLeftovers(engine: HookEngine, service: string, log: Logger): Promise<void> {
  const { containers } = await engine.serviceContainers(service)
  for (const container of containers.filter((c) => c.paused)) {
    log.warn(`stop: container ${container.containerId.slice(0, 12)} of ${service} was left paused by an earlier run that was killed; unpausing it`)
    await engine.unpause(container.containerId)
  }
}

/**
 * Pauses the service's running containers on this node (docker pause: their processes freeze, and
 * their files hold still) and resolves to the function that unpauses them and says for how long
 * they were paused. Whatever was paused is unpaused again if pausing a later one fails.
 */
export async function pauseService(engine: HookEngine, service: string, log: Logger): Promise<() => Promise<number>> {
  const { node, containers } = await engine.serviceContainers(service)
  const running = containers.filter((container) => !container.paused)
  if (running.length === 0) {
    throw new RunError(`STOP_DURING_BACKUP=pause (rds.backup.stop=pause): service ${service} has no running container on this node (${node}) to pause; the backup was not taken.`)
  }
  const paused: string[] = []
  const started = Date.now()
  const unpause = async () => {
    const failures: string[] = []
    for (const id of paused) await engine.unpause(id).catch((error: Error) => failures.push(`${id.slice(0, 12)}: ${error.message}`))
    const seconds = (Date.now() - started) / 1000
    if (failures.length > 0) {
      throw new RunError(`could not unpause ${failures.length} container(s) of ${service} (${failures.join('; ')}); unpause them with docker unpause.`)
    }
    log.info(`stop: unpaused ${paused.length} container(s) of ${service} after ${seconds.toFixed(1)} s (downtime ${seconds.toFixed(1)} s)`)
    return seconds
  }
  try {
    for (const container of running) {
      await engine.pause(container.containerId)
      paused.push(container.containerId)
    }
  } catch (error) {
    await unpause().catch((unpauseError: Error) => log.error(unpauseError.message))
    throw new RunError(`could not pause service ${service} for the backup: ${(error as Error).message}`)
  }
  log.info(`stop: paused ${paused.length} container(s) of ${service} on ${node} for the backup`)
  return unpause
}
