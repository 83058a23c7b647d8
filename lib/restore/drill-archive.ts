import { once } from 'node:events'
import { PassThrough, type Readable } from 'node:stream'
import { extract as tarExtract, pack as tarPack, type Headers } from 'tar-stream'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { dumpArgs, listPath, walkFolder, type SnapshotInfo } from '../restic/snapshots.js'

/** What a drill's archive holds: the files of a snapshot under one path, and a dump file beside them. */
export interface DrillParts {
  files?: { snapshot: SnapshotInfo; path: string }
  dump?: { snapshot: SnapshotInfo; filename: string }
}

/** How many files a snapshot holds under a path, and their bytes, by its listing (constant memory). */
async function listed(restic: Restic, snapshot: SnapshotInfo, path: string, log: Logger): Promise<{ files: number; bytes: number }> {
  let files = 0
  let bytes = 0
  await walkFolder(restic, snapshot, path, log, (node) => {
    if (node.type !== 'file') return
    files++
    bytes += node.size ?? 0
  })
  return { files, bytes }
}

/**
 * The parts of a drill as one tar stream, straight out of the repository (restic dump), with no
 * copy on this machine's disk: the files' path becomes the archive's top, and the dump file lies
 * in it. Each part is held against its snapshot's listing (every file, every byte); a part that
 * differs, or a restic that fails, fails the stream. `done` resolves to what was checked; `stop`
 * ends a reading that nobody takes any more (restic is stopped, and `done` rejects).
 */
export function drillArchive(restic: Restic, parts: DrillParts, log: Logger): { archive: Readable; done: Promise<string[]>; stop: (why: string) => void } {
  const pack = tarPack()
  const checked: string[] = []
  // What restic's output is being written into now: destroyed, it makes restic stop.
  let reading: { destroy(error: Error): void } | undefined
  let stopped: string | undefined
  const done = (async () => {
    if (parts.files) {
      const { snapshot, path } = parts.files
      const expected = await listed(restic, snapshot, path, log)
      const prefix = `${path.replace(/^\/+|\/+$/g, '')}/`
      const extract = tarExtract()
      // Its failures are taken where they matter (restic's output, the finish below): never a crash here.
      extract.on('error', () => undefined)
      reading = extract
      if (stopped) throw new RunError(stopped)
      let files = 0
      let bytes = 0
      extract.on('entry', (header: Headers, stream, next) => {
        const name = header.name.replace(/^\.?\//, '')
        // The path's own folder is the archive's top; what lies outside it is not the drill's.
        if (!name.startsWith(prefix) || name === prefix) {
          stream.resume()
          stream.on('end', next)
          return
        }
        if (header.type === 'file') {
          files++
          bytes += header.size ?? 0
        }
        const linkname = header.type === 'link' && header.linkname?.replace(/^\.?\//, '').startsWith(prefix) ? header.linkname.replace(/^\.?\//, '').slice(prefix.length) : header.linkname
        const entry = pack.entry({ ...header, name: name.slice(prefix.length), linkname }, next)
        entry.on('error', () => undefined)
        stream.pipe(entry)
      })
      const extracted = once(extract, 'finish')
      // Awaited only once restic is done; a failure before that is restic's to tell.
      extracted.catch(() => undefined)
      await runRestic(restic, dumpArgs('--archive', 'tar', snapshot.id, path), { log, stdoutTo: extract })
      extract.end()
      await extracted
      if (files !== expected.files || bytes !== expected.bytes) {
        throw new RunError(`the archive of snapshot ${snapshot.short_id} holds ${files} files and ${bytes} bytes where its listing says ${expected.files} files and ${expected.bytes} bytes.`)
      }
      checked.push(`snapshot ${snapshot.short_id} read: all ${files} files, with their sizes`)
    }
    if (parts.dump) {
      const { snapshot, filename } = parts.dump
      let bytes = 0
      await listPath(restic, snapshot, `/${filename}`, log, (node) => void (node.path === `/${filename}` && (bytes = node.size ?? 0)))
      let written = false
      // The entry fails (and so the stream) if restic writes another number of bytes than the listing says.
      const entered = new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: filename, size: bytes, mode: 0o600 }, (error) => (error ? reject(error) : resolve()))
        sink.on('error', () => undefined)
        reading = sink
        // Stopped already: restic is not started (it would write into the destroyed entry, which
        // nobody reads, and could block there holding its lock).
        if (stopped) {
          sink.destroy(new RunError(stopped))
          reject(new RunError(stopped))
          return
        }
        void runRestic(restic, dumpArgs(snapshot.id, `/${filename}`), { log, stdoutTo: sink }).then(
          () => {
            written = true
            sink.end()
          },
          (error: Error) => {
            sink.destroy(error)
            reject(error)
          },
        )
      })
      await entered
      if (!written) throw new RunError(`the dump ${filename} of snapshot ${snapshot.short_id} was not read whole.`)
      checked.push(`dump ${snapshot.short_id} read: ${filename} whole`)
    }
    pack.finalize()
    return checked
  })()
  // tar-stream's streams are readable-stream's: handed on as a stream of node's own, failures included.
  const archive = new PassThrough()
  pack.pipe(archive)
  pack.on('error', (error: Error) => archive.destroy(error))
  done.catch((error: Error) => pack.destroy(error))
  let settled = false
  void done.then(
    () => (settled = true),
    () => (settled = true),
  )
  const stop = (why: string) => {
    if (settled) return
    stopped ??= why
    // tar-stream's streams may throw an error they emit with nobody listening: done rejects anyway.
    try {
      reading?.destroy(new RunError(why))
    } catch {}
  }
  return { archive, done, stop }
}
