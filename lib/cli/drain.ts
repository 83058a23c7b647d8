import type { Writable } from 'node:stream'
import { EXIT } from '../errors.js'

/** Resolves once everything written to the stream has been handed to the system, or the stream failed. */
async function drained(stream: Writable): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return
  // Not 'drain': it comes only after a write that found the stream full. A tail under its
  // high-water mark, waiting for a slow reader, would end in none, and with nothing else to wait
  // for Node would exit 13 (unsettled top-level await). Writes end in order: an empty one's
  // callback comes once all before it are written (or the stream failed).
  await new Promise<void>((resolve) => stream.write('', () => resolve()))
}

/**
 * The exit code a command may end with once its output has drained: its own, or a failure when
 * standard output could not be written whole (a reader that went away), which is then said once.
 */
export async function exitCodeAfterDrain(exitCode: number, name: string, stdout: Writable, stderr: Writable): Promise<number> {
  await drained(stdout)
  if (exitCode !== EXIT.ok || !stdout.errored) {
    await drained(stderr)
    return exitCode
  }
  stderr.write(`${name}: the output could not be written whole (${(stdout.errored as NodeJS.ErrnoException).code ?? stdout.errored.message}).\n`)
  await drained(stderr)
  return EXIT.failure
}
