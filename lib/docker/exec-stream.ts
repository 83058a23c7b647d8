import type Docker from 'dockerode'
import { Writable, type Duplex, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { demultiplexer } from './stream.js'
import { writeOut } from '../output.js'

export interface ExecStreams {
  /** Fed to the command's stdin, which is closed when it ends. */
  stdin?: Readable
  /** Gets the command's stdout with backpressure: a slow reader slows the command down. */
  stdout: Writable
  onStderr: (chunk: Buffer) => void
  /** Aborting closes the connection: the command's output pipe breaks and it ends. */
  signal?: AbortSignal
}

export interface ExecResult {
  /** The command's exit code; undefined when the connection ended while it still ran (cut off). */
  exitCode?: number
  /** How many bytes of stdout it wrote. */
  stdoutBytes: number
}

/** Counts what passes through to `destination`, keeping its backpressure. */
function counting(destination: Writable, onBytes: (count: number) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      onBytes(chunk.length)
      writeOut(destination, chunk).then(() => done(), done)
    },
  })
}

/**
 * Runs argv in a container with its stdout streamed into `streams.stdout` (and `streams.stdin`, if
 * any, streamed in), in constant memory whatever the size. Resolves once the output has ended, to
 * the command's exit code as the engine recorded it.
 */
export async function execStreaming(docker: Docker, containerId: string, argv: string[], streams: ExecStreams): Promise<ExecResult> {
  const container = docker.getContainer(containerId)
  const exec = await container.exec({ Cmd: argv, AttachStdin: streams.stdin !== undefined, AttachStdout: true, AttachStderr: true, Tty: false })
  const connection = (await exec.start({ hijack: true, stdin: streams.stdin !== undefined })) as unknown as Duplex
  let stdoutBytes = 0
  // Ending our side of the connection is what closes the command's stdin (a half-close). A command
  // that ends early (a failed load) breaks this pipe: its exit code then says more than EPIPE.
  const input = streams.stdin
    ? pipeline(streams.stdin, connection).then(
        () => undefined,
        (error: Error) => {
          if ((error as NodeJS.ErrnoException).code !== 'EPIPE') connection.destroy(error)
          return error
        },
      )
    : Promise.resolve(undefined)
  await pipeline(connection, demultiplexer(counting(streams.stdout, (count) => (stdoutBytes += count)), streams.onStderr), { signal: streams.signal })
  const inputFailure = await input
  const { Running, ExitCode } = (await exec.inspect()) as { Running?: boolean; ExitCode?: number | null }
  const exitCode = Running || ExitCode === null || ExitCode === undefined ? undefined : ExitCode
  if (inputFailure && exitCode === 0) throw inputFailure
  return { exitCode, stdoutBytes }
}
