import { describeDuration } from '../config/duration.js'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { HookEngine, ServiceContainer } from '../docker/engine.js'

export interface Hook {
  /** "pre-hook" or "post-hook", for messages. */
  name: string
  /** The variable the command came from, for messages. */
  variable: string
  service: string
  command: string
  env?: string[]
  /** How long the hook may run before it is stopped and fails the run (HOOK_TIMEOUT), in ms. */
  timeout?: number
}

/**
 * An agent can exec only into containers of the engine it talks to, so the hook runs in a container
 * on this node: the lowest slot, so that the same replica is chosen from run to run.
 */
export async function chooseHookContainer(engine: HookEngine, service: string): Promise<ServiceContainer> {
  const { node, containers } = await engine.serviceContainers(service)
  const [chosen] = containers.filter((container) => !container.paused).sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || a.taskId.localeCompare(b.taskId))
  if (chosen === undefined) {
    throw new RunError(
      `service ${service} has no running container on this node (${node}) to run the hook in; hooks run only in containers on the backup's own node, ` +
        `so place the agent on a node that runs the service, and check SERVICE_NAME (the full name, with the stack prefix).`,
    )
  }
  return chosen
}

/**
 * Runs a hook command with `sh -c` in one container of the service. Its output goes to the log;
 * a non-zero exit throws a RunError. A hook that outlives its timeout, or runs when `signal` is
 * aborted (SIGTERM), is sent SIGTERM and fails the run.
 */
export async function runHook(engine: HookEngine, hook: Hook, log: Logger, signal?: AbortSignal): Promise<void> {
  const chosen = await chooseHookContainer(engine, hook.service)
  log.info(`${hook.name}: running in ${hook.service} (task ${chosen.taskId.slice(0, 12)}, container ${chosen.containerId.slice(0, 12)})`)
  const timeout = hook.timeout === undefined ? undefined : AbortSignal.timeout(hook.timeout)
  const stop = AbortSignal.any([signal, timeout].filter((s): s is AbortSignal => s !== undefined))
  const exitCode = await engine.exec(
    chosen.containerId,
    ['sh', '-c', hook.command],
    hook.env ?? [],
    (stream, line) => (stream === 'stderr' ? log.warn(`${hook.name}: ${line}`) : log.info(`${hook.name}: ${line}`)),
    stop,
  )
  if (exitCode === undefined || stop.aborted) {
    if (timeout?.aborted) {
      throw new RunError(`${hook.name} (${hook.variable}) did not finish within HOOK_TIMEOUT (${describeDuration(hook.timeout!)}) in service ${hook.service} and was stopped; raise HOOK_TIMEOUT or find what it waits for.`)
    }
    throw new RunError(`${hook.name} (${hook.variable}) in service ${hook.service} was interrupted before it finished.`, EXIT.interrupted)
  }
  if (exitCode !== 0) {
    throw new RunError(`${hook.name} (${hook.variable}) exited with code ${exitCode} in service ${hook.service}.`)
  }
  log.info(`${hook.name}: done`)
}
