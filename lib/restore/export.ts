import { open, rename, rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Writable } from 'node:stream'
import type { Logger } from '../observe/log.js'
import { partialPath } from './directory.js'
import { runRestic, type Restic } from '../restic/command.js'
import { dumpArgs, listPath, resolveSnapshot, type SnapshotChoice } from '../restic/snapshots.js'

export interface ExportOptions {
  choice: SnapshotChoice
  /** The folder of the snapshot to export as tar, or a file to export as it is; all of it by default. */
  path?: string
  /** The tar file to write; `stdout` when absent. */
  output?: string
  stdout: Writable
}

/**
 * Writes a snapshot as a tar archive (restic dump). A file is written, readable by its owner only,
 * beside its final name and renamed when complete, so that a failed export never leaves an archive
 * that looks whole. Output to a stream that goes away stops restic and fails.
 */
export async function exportSnapshot(restic: Restic, options: ExportOptions, log: Logger): Promise<void> {
  const snapshot = await resolveSnapshot(restic, options.choice, log)
  if (options.path) await listPath(restic, snapshot, options.path, log)
  const args = dumpArgs('--archive', 'tar', snapshot.id, options.path ?? '/')
  if (!options.output) {
    await runRestic(restic, args, { log, stdoutTo: options.stdout })
    return
  }
  const output = resolve(options.output)
  const partial = partialPath(output)
  log.info(`export: snapshot ${snapshot.short_id} of ${snapshot.paths.join(', ')} to ${output}`)
  try {
    // Created here so that it is private from the first byte; restic dump --target then writes into it.
    await (await open(partial, 'wx', 0o600)).close()
    await runRestic(restic, [...args, '--target', partial], { log })
    await rename(partial, output)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  log.info('export: done')
}
