import { hostname } from 'node:os'
import { PassThrough, type Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type Docker from 'dockerode'
import { demultiplexer } from './stream.js'
import { ConfigError, EXIT, RunError } from '../errors.js'

/**
 * Docker volumes are written and read by a short-lived helper container that mounts the volume
 * and runs GNU tar: the only way in from an agent that runs in a container itself.
 */
export interface VolumeHelper {
  docker: Docker
  /** An image with GNU tar: HELPER_IMAGE, else the agent's own image, else debian:trixie-slim. */
  image: string
  /** Aborting (SIGTERM) stops and removes a running helper container. */
  signal?: AbortSignal
}

// Docker's rule for local volume names.
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/
const statusCode = (error: unknown) => (error as { statusCode?: number }).statusCode

export function checkVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name)) {
    throw new ConfigError(`${JSON.stringify(name)} is not a volume name Docker accepts; use letters, digits, "_", "." and "-", starting with a letter or digit.`)
  }
}

/** The helper image: HELPER_IMAGE, or the image of the container this runs in, or Debian's. */
export async function helperImage(docker: Docker, configured?: string): Promise<string> {
  if (configured) return configured
  const self = await docker.getContainer(hostname()).inspect().catch(() => undefined)
  return self?.Image ?? 'debian:trixie-slim'
}

export async function volumeExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect()
    return true
  } catch (error) {
    if (statusCode(error) === 404) return false
    throw error
  }
}

/**
 * Runs tar in a helper container with the volume at /volume; stdin and stdout are tar streams that
 * flow with backpressure. An output that fails (a reader that went away), or `signal` (SIGTERM),
 * stops the container. The container is always removed, with the anonymous volumes its image declares.
 */
async function runTar(helper: VolumeHelper, volume: string, tarArgs: string[], io: { stdin?: Readable; stdout?: Writable }): Promise<void> {
  const { signal } = helper
  const container = await helper.docker.createContainer({
    Image: helper.image,
    Entrypoint: ['tar'],
    Cmd: tarArgs,
    User: '0:0',
    AttachStdin: Boolean(io.stdin),
    OpenStdin: Boolean(io.stdin),
    StdinOnce: Boolean(io.stdin),
    AttachStdout: true,
    AttachStderr: true,
    Labels: { 'restic-docker-swarm.helper': 'volume' },
    HostConfig: { Binds: [`${volume}:/volume`] },
  })
  const stop = () => void container.kill().catch(() => undefined)
  signal?.addEventListener('abort', stop, { once: true })
  try {
    const stream = await container.attach({ stream: true, stdin: Boolean(io.stdin), stdout: true, stderr: true, hijack: true })
    let stderr = ''
    let outputFailure: Error | undefined
    const output = pipeline(stream, demultiplexer(io.stdout ?? new PassThrough().resume(), (chunk) => (stderr = (stderr + chunk.toString()).slice(-4096)))).catch(
      (error: Error) => {
        outputFailure = error
        stop()
      },
    )
    if (signal?.aborted) throw interrupted()
    await container.start()
    if (io.stdin) await pipeline(io.stdin, stream, { end: true }).catch(() => undefined)
    const { StatusCode } = (await container.wait()) as { StatusCode: number }
    await output
    if (signal?.aborted) throw interrupted()
    if (outputFailure) {
      const reason = (outputFailure as NodeJS.ErrnoException).code === 'EPIPE' ? 'the reader went away' : outputFailure.message
      throw new RunError(`the volume ${volume} could not be written out whole (${reason}); the helper container was stopped.`)
    }
    if (StatusCode !== 0) throw new RunError(`tar in the helper container failed with exit code ${StatusCode}: ${stderr.trim().split('\n').slice(-2).join(' ')}`)
  } finally {
    signal?.removeEventListener('abort', stop)
    await container.remove({ force: true, v: true }).catch(() => undefined)
  }
}

const interrupted = () => new RunError('interrupted before it finished; the helper container was removed.', EXIT.interrupted)

/** Whether a volume holds anything. */
export async function volumeIsEmpty(helper: VolumeHelper, volume: string): Promise<boolean> {
  let listing = ''
  const out = new PassThrough()
  out.on('data', (chunk: Buffer) => (listing += chunk.toString()))
  // tar lists the volume's root entry "./" and whatever is inside it.
  await runTar(helper, volume, ['-c', '-f', '/dev/null', '-v', '-C', '/volume', '.'], { stdout: out })
  return listing.trim().split('\n').filter((line) => line.trim() !== '' && line.trim() !== './').length === 0
}

/**
 * Refuses a bad name, or unless forced an existing volume that holds something (or, with
 * `refuseExisting`, any existing volume); resolves to whether it exists.
 */
export async function checkVolumeWritable(helper: VolumeHelper, volume: string, force: boolean, refuseExisting = false): Promise<boolean> {
  checkVolumeName(volume)
  const existed = await volumeExists(helper.docker, volume)
  if (existed && !force && refuseExisting) {
    throw new ConfigError(`volume ${volume} already exists; choose a new name, or add --force to write into it.`)
  }
  if (existed && !force && !(await volumeIsEmpty(helper, volume))) {
    throw new ConfigError(`volume ${volume} already exists and is not empty; choose a new name, or add --force to write into it.`)
  }
  return existed
}

/**
 * Creates the volume (or, with force, reuses a non-empty one) and extracts a tar into it with
 * owners, modes and times. A volume this created is removed again if the extraction fails.
 */
export async function writeVolume(helper: VolumeHelper, volume: string, tar: Readable, force: boolean): Promise<void> {
  const existed = await checkVolumeWritable(helper, volume, force)
  if (!existed) await helper.docker.createVolume({ Name: volume, Labels: { 'restic-docker-swarm.created-by': 'rds' } })
  try {
    await runTar(helper, volume, ['-x', '-p', '--numeric-owner', '--same-owner', '-C', '/volume', '-f', '-'], { stdin: tar })
  } catch (error) {
    if (!existed) await helper.docker.getVolume(volume).remove().catch(() => undefined)
    throw error
  }
}

// pax extended headers would otherwise name the writing tar's process ID and carry each file's
// access and change times: without them, an unchanged volume exports to the same bytes every time.
export const REPRODUCIBLE_PAX = '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'

/**
 * Writes a volume's contents as a POSIX (pax) tar stream: owners, modes, exact modification times,
 * hard links and holes, the same bytes for the same contents.
 */
export async function readVolume(helper: VolumeHelper, volume: string, out: Writable): Promise<void> {
  checkVolumeName(volume)
  if (!(await volumeExists(helper.docker, volume))) throw new ConfigError(`there is no volume ${volume}; list them with "docker volume ls".`)
  await runTar(helper, volume, ['-c', '--format=posix', REPRODUCIBLE_PAX, '--numeric-owner', '--sparse', '-C', '/volume', '-f', '-', '.'], { stdout: out })
}
