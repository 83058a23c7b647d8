import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, readdir, rename, rm, rmdir, stat, utimes } from 'node:fs/promises'
import { basename, dirname, join, posix, resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { listPath, resolveSnapshot, type SnapshotChoice, type SnapshotInfo, type SnapshotNode } from '../restic/snapshots.js'

export interface RestoreOptions {
  choice: SnapshotChoice
  /** The folder of the snapshot that becomes the target's root (restic's SNAPSHOT:FOLDER); the snapshot's own paths are recreated under the target when absent. */
  folder?: string
  /** Only these paths of the snapshot (files or folders; inside `folder` where one is given); all of it when empty. */
  includes: string[]
  target: string
  /** Restore into an existing, non-empty target, overwriting what the snapshot holds. */
  force: boolean
  /** Patterns left out of the restore (restic's --exclude); with delete, what they match is kept. */
  excludes?: string[]
  /** With force: also delete what the target holds that the snapshot does not (restic's --delete), so that it matches the snapshot. */
  delete?: boolean
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

// Go's flags for the bits Unix keeps beside the permissions.
const GO_MODE_BITS: [number, number][] = [
  [1 << 23, 0o4000], // setuid
  [1 << 22, 0o2000], // setgid
  [1 << 20, 0o1000], // sticky
]

/**
 * restic restores a folder's contents (SNAPSHOT:FOLDER), not the folder itself: the target, which
 * takes its place (a volume's root), gets its owner, mode and time, or a database's data directory
 * would come back owned by root.
 */
async function takeMetadata(target: string, folder: SnapshotNode): Promise<void> {
  if (folder.uid !== undefined && folder.gid !== undefined) await chown(target, folder.uid, folder.gid)
  if (folder.mode !== undefined) await chmod(target, GO_MODE_BITS.reduce((mode, [go, unix]) => (folder.mode! & go ? mode | unix : mode), folder.mode & 0o777))
  if (folder.mtime) {
    // In seconds with the fraction restic gives (to the nanosecond): a Date would cut it to the millisecond.
    const fraction = /\.(\d+)/.exec(folder.mtime)?.[1] ?? '0'
    await utimes(target, Date.now() / 1000, Math.floor(Date.parse(folder.mtime) / 1000) + Number(`0.${fraction}`))
  }
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
  if (options.delete && !options.force) throw new ConfigError('--delete removes what the target holds beyond the snapshot, so it needs --force (a new or empty target has nothing to remove).')
  const target = resolve(options.target)
  const state = await targetState(target)
  if (state === 'full' && !options.force) {
    throw new ConfigError(`--target ${target} is not empty; restore into a new or empty directory, or add --force to overwrite what the snapshot holds.`)
  }
  const snapshot = await resolveSnapshot(restic, options.choice, log)
  let root: SnapshotNode | undefined
  if (options.folder) await listPath(restic, snapshot, options.folder, log, (node) => void (node.path === options.folder && (root = node)))
  for (const include of options.includes) await listPath(restic, snapshot, options.folder ? posix.join(options.folder, include) : include, log)
  const into = state === 'missing' ? partialPath(target) : state === 'empty' ? partialPath(join(target, 'restore')) : target
  await mkdir(dirname(target), { recursive: true })
  const source = options.folder ? `${snapshot.id}:${options.folder}` : snapshot.id
  const args = ['restore', source, '--target', into, '--sparse', ...(options.delete ? ['--delete'] : []), ...options.includes.flatMap((path) => ['--include', path]), ...(options.excludes ?? []).flatMap((pattern) => ['--exclude', pattern])]
  log.info(`restore: snapshot ${snapshot.short_id} of ${options.folder ?? snapshot.paths.join(', ')} (${snapshot.time}) into ${target}${options.delete ? ', deleting what it does not hold' : ''}`)
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
  // With --include only those paths are the snapshot's: the root stays the live one's.
  if (root && options.includes.length === 0) await takeMetadata(target, root)
  log.info('restore: done')
  return snapshot
}
