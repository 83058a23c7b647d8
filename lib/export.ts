import { rename, rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Logger } from './log.js'
import { partialPath } from './restore.js'
import { runRestic, type Restic } from './restic.js'
import { listPath, resolveSnapshot, type SnapshotChoice } from './snapshots.js'

export interface ExportOptions {
  choice: SnapshotChoice
  /** The folder of the snapshot to export as tar, or a file to export as it is; all of it by default. */
  path?: string
  /** The tar file to write; standard output when absent. */
  output?: string
}

/**
 * Writes a snapshot as a tar archive (restic dump). A file is written beside its final name and
 * renamed when complete, so that a failed export never leaves an archive that looks whole.
 */
export async function exportSnapshot(restic: Restic, options: ExportOptions, log: Logger): Promise<void> {
  const snapshot = await resolveSnapshot(restic, options.choice, log)
  if (options.path) await listPath(restic, snapshot, options.path, log)
  const args = ['dump', '--archive', 'tar', snapshot.id, options.path ?? '/']
  if (!options.output) {
    await runRestic(restic, args, { log, stdoutTo: 'inherit' })
    return
  }
  const output = resolve(options.output)
  const partial = partialPath(output)
  log.info(`export: snapshot ${snapshot.short_id} of ${snapshot.paths.join(', ')} to ${output}`)
  try {
    await runRestic(restic, args, { log, stdoutTo: { file: partial } })
    await rename(partial, output)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  log.info('export: done')
}
