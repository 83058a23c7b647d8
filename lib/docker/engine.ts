import { PassThrough } from 'node:stream'
import { finished } from 'node:stream/promises'
import { createInterface } from 'node:readline'
import type Docker from 'dockerode'
import { RunError } from '../errors.js'

/** A running container of a Swarm service's task on this node. */
export interface ServiceContainer {
  containerId: string
  taskId: string
  slot?: number
  /** Paused (docker pause): it cannot run a command until it is unpaused. */
  paused?: boolean
}

/**
 * The few things hooks need from a Docker engine; dockerEngine below implements it with dockerode.
 * Taken as an argument (lib/run/hooks.ts), it lets a test point hooks at any engine.
 */
export interface HookEngine {
  /**
   * The service's running (and paused) containers on this engine's node, and the node's name for messages. Any
   * node answers this, a worker too: it reads the containers' Swarm labels, not the Swarm's tasks.
   */
  serviceContainers(service: string): Promise<{ node: string; containers: ServiceContainer[] }>
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
  /** Freezes every process of the container (docker pause), and thaws them. */
  pause(containerId: string): Promise<void>
  unpause(containerId: string): Promise<void>
}

// The labels Swarm puts on every task's container, which any node's engine can filter on.
export const SERVICE_LABEL = 'com.docker.swarm.service.name'
const TASK_ID_LABEL = 'com.docker.swarm.task.id'
const TASK_NAME_LABEL = 'com.docker.swarm.task.name'

// The command runs behind a shell that first says its process ID (which `exec` then hands on), so
// that it can be sent SIGTERM: the Docker API has no way to signal an exec'd process.
const PID_LINE = /^rds-exec-pid (\d+)$/
const SAY_PID_THEN_EXEC = 'echo "rds-exec-pid $$" >&2; exec "$@"'
// Sends SIGTERM to a process and every process under it, found through /proc (any image with a
// POSIX sh has it): a hook's shell may have started its command as a child, which would otherwise
// outlive it. The process ID comes in as $1, never inside the script.
const TERMINATE_TREE = `
pids=$1 all=$1
while [ -n "$pids" ]; do
  next=
  for stat in /proc/[0-9]*/stat; do
    read -r line < "$stat" 2>/dev/null || continue
    set -- \${line##*) }
    for pid in $pids; do
      if [ "$2" = "$pid" ]; then child=\${stat#/proc/}; next="$next \${child%/stat}"; fi
    done
  done
  all="$all $next" pids=$next
done
kill -TERM $all 2>/dev/null
`
// How long a stopped command gets to end before it is left behind.
const STOP_GRACE_MS = 10_000

async function lines(stream: PassThrough, onLine: (line: string) => void): Promise<void> {
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) onLine(line)
}

/** A connection failure (no socket, refused) as a sentence; other errors as they are. */
function unreachable(docker: Docker, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code
  if (code !== 'ENOENT' && code !== 'ECONNREFUSED' && code !== 'EACCES') return error
  const modem = docker.modem as { socketPath?: string; host?: string; port?: string | number }
  const where = modem.socketPath ?? `${modem.host}:${modem.port}`
  return new RunError(`cannot reach the Docker engine at ${where} (${code}); mount the Docker socket into the agent (/var/run/docker.sock) or set DOCKER_HOST.`)
}

/** The HookEngine of a real Docker engine, reached through dockerode. */
export function dockerEngine(docker: Docker): HookEngine {
  return {
    async serviceContainers(service) {
      const [info, containers] = await Promise.all([
        docker.info() as Promise<{ Name?: string; Swarm?: { LocalNodeState?: string } }>,
        docker.listContainers({ filters: { label: [`${SERVICE_LABEL}=${service}`], status: ['running', 'paused'] } }),
      ]).catch((error) => Promise.reject(unreachable(docker, error)))
      if (info.Swarm?.LocalNodeState !== 'active') {
        throw new RunError('the Docker engine the agent talks to is not part of a Swarm, so it cannot find the service to run hooks in.')
      }
      return {
        node: info.Name ?? 'unknown',
        containers: containers.map((container) => {
          const taskId = container.Labels[TASK_ID_LABEL] ?? container.Id
          // A replicated task's name is <service>.<slot>.<task ID>; a global task's has a node ID there.
          const slot = /^\d+$/.exec(container.Labels[TASK_NAME_LABEL]?.slice(service.length + 1).split('.')[0] ?? '')
          return { containerId: container.Id, taskId, slot: slot ? Number(slot[0]) : undefined, paused: container.State === 'paused' }
        }),
      }
    },

    async pause(containerId) {
      await docker.getContainer(containerId).pause()
    },

    async unpause(containerId) {
      await docker.getContainer(containerId).unpause()
    },

    async exec(containerId, argv, env, onLine, signal) {
      const container = docker.getContainer(containerId)
      const exec = await container.exec({
        Cmd: ['sh', '-c', SAY_PID_THEN_EXEC, 'rds-exec', ...argv],
        Env: env,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      })
      const stream = await exec.start({ hijack: true, stdin: false })
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      docker.modem.demuxStream(stream, stdout, stderr)
      let pid: string | undefined
      const reading = Promise.all([
        lines(stdout, (l) => onLine('stdout', l)),
        lines(stderr, (l) => {
          const said = pid === undefined ? PID_LINE.exec(l) : null
          if (said) pid = said[1]
          else onLine('stderr', l)
        }),
      ])
      // The command's output has ended when the stream's readable side has; its writable side (our
      // stdin, which we never use) may stay open.
      const ended = finished(stream, { writable: false }).catch(() => undefined)
      const stopped = new Promise<'stopped'>((resolve) => {
        if (signal?.aborted) resolve('stopped')
        signal?.addEventListener('abort', () => resolve('stopped'), { once: true })
      })
      if ((await Promise.race([ended, stopped])) === 'stopped') {
        if (pid !== undefined) {
          const kill = await container.exec({ Cmd: ['sh', '-c', TERMINATE_TREE, 'rds-kill', pid], AttachStdout: true, AttachStderr: true })
          const killed = await kill.start({ hijack: true, stdin: false })
          killed.resume()
          await finished(killed, { writable: false }).catch(() => undefined)
          killed.destroy()
        }
        const gone = await Promise.race([ended.then(() => true), new Promise<boolean>((resolve) => setTimeout(resolve, STOP_GRACE_MS, false).unref())])
        if (!gone) stream.destroy()
        stdout.end()
        stderr.end()
        await reading
        return undefined
      }
      stdout.end()
      stderr.end()
      await reading
      const { ExitCode } = await exec.inspect()
      return ExitCode ?? 1
    },
  }
}
