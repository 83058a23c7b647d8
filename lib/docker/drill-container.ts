import { PassThrough, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type Docker from 'dockerode'
import { demultiplexer } from './stream.js'

/** Where the restored snapshot is in the drill's container, and where its command starts. */
export const DRILL_DIR = '/drill'

/**
 * Runs a restore drill's command in a throwaway container of `image` (the service's own, with its
 * tools: pg_restore, a whole Postgres): the restored files come in on stdin as a tar and are
 * unpacked into /drill, and the command runs there with `sh -c`. Resolves to its exit code and the
 * end of its output; the container is always removed.
 */
export async function runDrillContainer(docker: Docker, image: string, command: string, tar: Readable, signal?: AbortSignal): Promise<{ exitCode: number; output: string }> {
  const create = () => docker.createContainer({
    Image: image,
    Entrypoint: ['sh', '-c', `mkdir -p ${DRILL_DIR} && tar -x -f - -C ${DRILL_DIR} && cd ${DRILL_DIR} && exec sh -c "$RDS_DRILL_COMMAND"`],
    Cmd: [],
    Env: [`RDS_DRILL_COMMAND=${command}`],
    User: '0:0',
    AttachStdin: true,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdout: true,
    AttachStderr: true,
    Labels: { 'restic-docker-swarm.helper': 'drill' },
  })
  // The service's image may not be on this node yet (the controller runs on a manager).
  const container = await create().catch(async (error: { statusCode?: number }) => {
    if (error.statusCode !== 404) throw error
    await pull(docker, image)
    return create()
  })
  const stop = () => void container.kill().catch(() => undefined)
  signal?.addEventListener('abort', stop, { once: true })
  try {
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })
    let output = ''
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4096))
    const sink = new PassThrough()
    sink.on('data', keep)
    const reading = pipeline(stream, demultiplexer(sink, keep)).catch(() => undefined)
    await container.start()
    await pipeline(tar, stream, { end: true }).catch(() => undefined)
    const { StatusCode } = (await container.wait()) as { StatusCode: number }
    await reading
    return { exitCode: StatusCode, output: output.trim() }
  } finally {
    signal?.removeEventListener('abort', stop)
    await container.remove({ force: true, v: true }).catch(() => undefined)
  }
}

async function pull(docker: Docker, image: string): Promise<void> {
  const stream = await docker.pull(image)
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())))
}
