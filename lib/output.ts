import type { Writable } from 'node:stream'

/** Resolves at the stream's next 'drain'; rejects once it fails or closes first (a reader that went away: EPIPE). */
export function waitForDrain(stream: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('drain', onDrain)
      stream.off('error', onError)
      stream.off('close', onClose)
      if (error) reject(error)
      else resolve()
    }
    const onDrain = () => done()
    const onError = (error: Error) => done(error)
    const onClose = () => done(stream.errored ?? new Error('the output was closed'))
    stream.on('drain', onDrain)
    stream.on('error', onError)
    stream.on('close', onClose)
  })
}

/**
 * Writes to a stream and waits while it is full, so that a slow reader slows the writer down
 * instead of filling memory. Rejects once the stream has failed.
 */
export async function writeOut(stream: Writable, chunk: string | Buffer): Promise<void> {
  if (stream.errored) throw stream.errored
  if (stream.destroyed || stream.writableEnded) throw new Error('the output was closed')
  if (!stream.write(chunk)) await waitForDrain(stream)
}
