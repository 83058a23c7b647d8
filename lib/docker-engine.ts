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

/** The HookEngine of a real Docker engine, reached through dockerode. */
export function dockerEngine(docker: Docker): HookEngine {
  return {
    async localNodeId() {
      const info = (await docker.info()) as { Swarm?: { NodeID?: string; LocalNodeState?: string } }
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
        throw error
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
