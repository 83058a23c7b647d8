import { describeDuration } from '../config/duration.js'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'

/** A running task of a Swarm service, with the container it runs in. */
export interface ServiceTask {
  id: string
  nodeId: string
  containerId: string
  slot?: number
}

/**
 * The few things hooks need from a Docker engine. lib/docker/engine.ts implements it with dockerode;
 * taking it as an argument lets a test point hooks at any engine.
 */
export interface HookEngine {
  /** This engine's Swarm node ID; throws a RunError when the engine is not part of a Swarm. */
  localNodeId(): Promise<string>
  /** The service's tasks that are running now; throws a RunError when there is no such service. */
  runningTasks(service: string): Promise<ServiceTask[]>
  /**
   * Runs argv in the container, passing each output line on; resolves to the exit code. Aborting
   * `signal` sends the command SIGTERM and resolves to undefined once it has ended, or has been
   * left behind after a grace period.
   */
  exec(
    containerId: string,
    argv: string[],
    env: string[],
    onLine: (stream: 'stdout' | 'stderr', line: string) => void,
    signal?: AbortSignal,
  ): Promise<number | undefined>
}

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
 * An agent can exec only into containers of the engine it talks to, so the hook runs in a task on
 * this node: the lowest slot, so that the same replica is chosen from run to run.
 */
export async function chooseHookTask(engine: HookEngine, service: string): Promise<ServiceTask> {
  const [nodeId, tasks] = await Promise.all([engine.localNodeId(), engine.runningTasks(service)])
  if (tasks.length === 0) {
    throw new RunError(`service ${service} has no running task to run the hook in; start it or check SERVICE_NAME.`)
  }
  const local = tasks
    .filter((task) => task.nodeId === nodeId)
    .sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || a.id.localeCompare(b.id))
  const chosen = local[0]
  if (chosen === undefined) {
    throw new RunError(
      `service ${service} has ${tasks.length} running task(s) but none on this node (${nodeId}); ` +
        `the agent can only run hooks in containers on its own node, so place it on a node that runs the service.`,
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
  const task = await chooseHookTask(engine, hook.service)
  log.info(`${hook.name}: running in ${hook.service} (task ${task.id.slice(0, 12)}, container ${task.containerId.slice(0, 12)})`)
  const timeout = hook.timeout === undefined ? undefined : AbortSignal.timeout(hook.timeout)
  const stop = AbortSignal.any([signal, timeout].filter((s): s is AbortSignal => s !== undefined))
  const exitCode = await engine.exec(
    task.containerId,
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
