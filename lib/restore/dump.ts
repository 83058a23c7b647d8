import type Docker from 'dockerode'
import { PassThrough, Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { execStreaming } from '../docker/exec-stream.js'
import { RunError } from '../errors.js'
import { DUMP_TAG } from '../dumps/presets.js'
import { formatBytes } from '../restic/backup-summary.js'
import { runRestic, type Restic } from '../restic/command.js'
import { dumpArgs, resolveSnapshot, type SnapshotChoice, type SnapshotInfo } from '../restic/snapshots.js'
import type { Logger } from '../observe/log.js'

// Lines of the loader's stderr kept to explain its failure.
const STDERR_TAIL = 5

export interface DumpRestore {
  /** The snapshot: "latest" is the newest dump (tagged dump) of the host. */
  choice: SnapshotChoice
  docker: Docker
  /** The container the loader runs in: it must be running the database. */
  containerId: string
  /** Run with `sh -c` in the container, reading the dump on stdin. */
  command: string
  signal?: AbortSignal
}

/** A Writable that hands on each line written to it, whatever the chunks (frames of Docker's stream) split. */
function lines(onLine: (line: string) => void): Writable {
  let partial = ''
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const split = (partial + chunk.toString('utf8')).split('\n')
      partial = split.pop() ?? ''
      for (const line of split) if (line.trim() !== '') onLine(line)
      done()
    },
    final(done) {
      if (partial.trim() !== '') onLine(partial)
      done()
    },
  })
}

/** The one dump a snapshot holds, or a RunError saying that it is not a dump's snapshot. */
export function dumpPath(snapshot: SnapshotInfo): string {
  const [path] = snapshot.paths
  if (!snapshot.tags?.includes(DUMP_TAG) || snapshot.paths.length !== 1 || path === undefined) {
    throw new RunError(`snapshot ${snapshot.short_id} holds ${snapshot.paths.join(', ')}, not a dump (its snapshots are tagged ${DUMP_TAG}); restore files with rds restore.`)
  }
  return path
}

/**
 * Streams a dump out of the repository (restic dump) into the loader's stdin in a running
 * container (psql, mariadb), with no file written anywhere. Fails unless both restic and the
 * loader succeeded; a loader that stopped half-way may have loaded part of the dump.
 */
export async function restoreDump(restic: Restic, restore: DumpRestore, log: Logger): Promise<SnapshotInfo> {
  const choice = restore.choice.snapshot === 'latest' ? { ...restore.choice, tag: DUMP_TAG } : restore.choice
  const snapshot = await resolveSnapshot(restic, choice, log)
  const path = dumpPath(snapshot)
  log.info(`restore-dump: ${path} of snapshot ${snapshot.short_id} (${snapshot.hostname}, ${snapshot.time}) into container ${restore.containerId.slice(0, 12)}`)
  const dump = new PassThrough()
  const stderr: string[] = []
  const stderrLines = lines((line) => {
    log.warn(`restore-dump: ${line}`)
    stderr.push(line)
    if (stderr.length > STDERR_TAIL) stderr.shift()
  })
  const loading = execStreaming(restore.docker, restore.containerId, ['sh', '-c', restore.command], {
    stdin: dump,
    stdout: lines((line) => log.debug(`restore-dump: ${line}`)),
    onStderr: (chunk) => stderrLines.write(chunk),
    signal: restore.signal,
  }).finally(() => stderrLines.end())
  let readFailure: unknown
  await runRestic(restic, dumpArgs(snapshot.id, path), { log, stdoutTo: dump, signal: restore.signal }).then(
    () => dump.end(),
    (error) => {
      readFailure = error
      dump.destroy(error as Error)
    },
  )
  const { exitCode } = await loading.catch((error: Error) => {
    if (readFailure) return { exitCode: undefined }
    throw error
  })
  // A loader that stopped early also breaks restic's pipe: its own exit code says why.
  if (readFailure && (exitCode === 0 || exitCode === undefined)) {
    throw new RunError(`restic could not read the dump (${(readFailure as Error).message}); the database may hold part of it: restore again once the repository is readable.`)
  }
  // The last line, if it had no newline, is handed on when the stream ends.
  if (!stderrLines.writableFinished) await finished(stderrLines)
  if (exitCode !== 0) {
    const why = stderr.length > 0 ? `: ${stderr.join(' | ')}` : ''
    throw new RunError(
      `the restore command ${exitCode === undefined ? 'was cut off' : `exited with code ${exitCode}`} in container ${restore.containerId.slice(0, 12)}${why}; the database may hold part of the dump.`,
    )
  }
  log.info(`restore-dump: ${formatBytes(snapshot.summary?.total_bytes_processed ?? 0)} loaded`)
  return snapshot
}
