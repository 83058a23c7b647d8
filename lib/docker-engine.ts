import { PassThrough } from 'node:stream'
import { finished } from 'node:stream/promises'
import { createInterface } from 'node:readline'
import type Docker from 'dockerode'
import { RunError } from './errors.js'
import type { HookEngine, ServiceTask } from './hooks.js'

interface DockerTask {
  ID: string
  NodeID: string
  Slot?: number
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string } }
}

const statusCode = (error: unknown) => (error as { statusCode?: number }).statusCode

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
    async localNodeId() {
      const info = (await docker.info().catch((error) => Promise.reject(unreachable(docker, error)))) as { Swarm?: { NodeID?: string; LocalNodeState?: string } }
      const nodeId = info.Swarm?.NodeID
      if (info.Swarm?.LocalNodeState !== 'active' || !nodeId) {
        throw new RunError('the Docker engine the agent talks to is not part of a Swarm, so it cannot find the service to run hooks in.')
      }
      return nodeId
    },

    async runningTasks(service) {
      let serviceId: string
      try {
        serviceId = ((await docker.getService(service).inspect()) as { ID: string }).ID
      } catch (error) {
        if (statusCode(error) === 404) {
          throw new RunError(`there is no Swarm service named ${service}; set SERVICE_NAME to the full name, including the stack prefix.`)
        }
        throw unreachable(docker, error)
      }
      const tasks = (await docker.listTasks({
        filters: { service: [serviceId], 'desired-state': ['running'] },
      })) as DockerTask[]
      return tasks.flatMap((task): ServiceTask[] => {
        const containerId = task.Status?.ContainerStatus?.ContainerID
        if (task.Status?.State !== 'running' || !containerId) return []
        return [{ id: task.ID, nodeId: task.NodeID, containerId, slot: task.Slot }]
      })
    },

    async exec(containerId, argv, env, onLine) {
      const exec = await docker.getContainer(containerId).exec({
        Cmd: argv,
        Env: env,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      })
      const stream = await exec.start({ hijack: true, stdin: false })
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      docker.modem.demuxStream(stream, stdout, stderr)
      const reading = Promise.all([lines(stdout, (l) => onLine('stdout', l)), lines(stderr, (l) => onLine('stderr', l))])
      await finished(stream).catch(() => undefined)
      stdout.end()
      stderr.end()
      await reading
      const { ExitCode } = await exec.inspect()
      return ExitCode ?? 1
    },
  }
}
