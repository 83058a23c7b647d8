import { Writable } from 'node:stream'
import { writeOut } from '../output.js'

// Docker multiplexes a container's stdout and stderr on one connection (when it has no TTY): each
// frame is an 8-byte header (stream type, 3 zero bytes, payload length as a big-endian uint32) and
// the payload.
const HEADER_BYTES = 8
const STDOUT = 1

/**
 * A writable end for a container's attached output that splits it into stdout and stderr, waiting
 * while `stdout` is full, so that the engine's connection, and the container, slow down to the pace
 * of the reader. dockerode's demuxStream writes without waiting, which buffers without bound.
 */
export function demultiplexer(stdout: Writable, onStderr: (chunk: Buffer) => void): Writable {
  let pending: Buffer = Buffer.alloc(0)
  return new Writable({
    async write(chunk: Buffer, _encoding, done) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      try {
        while (pending.length >= HEADER_BYTES) {
          const length = pending.readUInt32BE(4)
          if (pending.length < HEADER_BYTES + length) break
          const payload = pending.subarray(HEADER_BYTES, HEADER_BYTES + length)
          const type = pending[0]
          pending = pending.subarray(HEADER_BYTES + length)
          if (type === STDOUT) await writeOut(stdout, payload)
          else onStderr(payload)
        }
        done()
      } catch (error) {
        done(error as Error)
      }
    },
  })
}
