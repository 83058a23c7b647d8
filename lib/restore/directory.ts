import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { listPath, resolveSnapshot, type SnapshotChoice, type SnapshotInfo } from '../restic/snapshots.js'

export interface RestoreOptions {
  choice: SnapshotChoice
  /** Only these paths of the snapshot (files or folders); all of it when empty. */
  includes: string[]
  target: string
  /** Restore into an existing, non-empty target, overwriting what the snapshot holds. */
  force: boolean
  /** Let restic show its progress (on a terminal). */
  progress: boolean
}

/** 'missing', 'empty' or 'full'. */
async function targetState(dir: string): Promise<'missing' | 'empty' | 'full'> {
  const stats = await stat(dir).catch(() => undefined)
  if (!stats) return 'missing'
  if (!stats.isDirectory()) throw new ConfigError(`--target ${dir} is not a directory; give a new or empty directory.`)
  return (await readdir(dir)).length === 0 ? 'empty' : 'full'
}

/** A sibling of the target, on the same file system, so that it can be renamed into place. */
export const partialPath = (target: string) => join(dirname(target), `.${basename(target)}.rds-partial-${randomBytes(4).toString('hex')}`)

/**
 * Restores a snapshot (or some paths of it) into a directory, with owners, modes, times, links and
 * sparse files. A new target is restored beside it first and renamed into place only when restic
 * succeeded, so that a failed restore never leaves a target that looks complete. An existing empty
 * target (which may be a mount point, and cannot be replaced) is restored into a hidden folder
 * inside it, whose contents are moved up when restic succeeded.
 */
export async function restoreToDirectory(restic: Restic, options: RestoreOptions, log: Logger): Promise<SnapshotInfo> {
  const target = resolve(options.target)
  const state = await targetState(target)
  if (state === 'full' && !options.force) {
    throw new ConfigError(`--target ${target} is not empty; restore into a new or empty directory, or add --force to overwrite what the snapshot holds.`)
  }
  const snapshot = await resolveSnapshot(restic, options.choice, log)
  for (const include of options.includes) await listPath(restic, snapshot, include, log)
  const into = state === 'missing' ? partialPath(target) : state === 'empty' ? partialPath(join(target, 'restore')) : target
  await mkdir(dirname(target), { recursive: true })
  const args = ['restore', snapshot.id, '--target', into, '--sparse', ...options.includes.flatMap((path) => ['--include', path])]
  log.info(`restore: snapshot ${snapshot.short_id} of ${snapshot.paths.join(', ')} (${snapshot.time}) into ${target}`)
  try {
    await runRestic(restic, args, { log, stdoutTo: options.progress ? 'inherit' : undefined })
  } catch (error) {
    if (into !== target) await rm(into, { recursive: true, force: true })
    throw error
  }
  if (state === 'missing') await rename(into, target)
  if (state === 'empty') {
    for (const name of await readdir(into)) await rename(join(into, name), join(target, name))
    await rmdir(into)
  }
  log.info('restore: done')
  return snapshot
}
