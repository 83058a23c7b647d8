import { ConfigError, EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from './command.js'

/** What `restic snapshots --json` says of a snapshot. */
export interface SnapshotInfo {
  id: string
  short_id: string
  time: string
  hostname: string
  paths: string[]
  tags?: string[]
  /** A snapshot rewritten by restic tag: the ID of the one it replaced (which an append-only server keeps). */
  original?: string
  /** What the backup saw; restic 0.17 and newer record it. */
  summary?: { total_files_processed: number; total_bytes_processed: number; data_added?: number }
}

/** The tag a snapshot gets when the guard rejects it (a lost or emptied volume): it is kept, but never "the latest". */
export const REJECTED_TAG = 'rds-rejected'

/**
 * The tag of a safety snapshot: what a service's volumes (or database) held just before an in-place
 * restore replaced it. Kept by retention like the others, restorable by its ID, never "latest".
 */
export const SAFETY_TAG = 'rds-safety'

/**
 * The tag of a service's saved definition (what `docker service inspect` says of it), saved beside
 * each of its backups: a document of its own, never "latest" nor a backup's reference.
 */
export const DEFINITION_TAG = 'rds-definition'

/**
 * Whether the guard rejected a snapshot: tagged so, or among the rejections recorded where an
 * append-only server could not tag them (STATUS_FILE, REJECTED_SNAPSHOTS).
 */
export const isRejected = (snapshot: SnapshotInfo, rejected: readonly string[] = []) => snapshot.tags?.includes(REJECTED_TAG) === true || rejected.includes(snapshot.id)

/**
 * Whether a snapshot is a backup the guard accepted, one that "latest" and the guard's comparisons
 * may stand on: not rejected, not a safety snapshot (which may hold the damage a restore undid), and
 * not a saved definition.
 */
export const isAccepted = (snapshot: SnapshotInfo, rejected: readonly string[] = []) =>
  !isRejected(snapshot, rejected) && !snapshot.tags?.some((tag) => tag === SAFETY_TAG || tag === DEFINITION_TAG)

/**
 * The recorded rejections, the snapshots whose rejected tag went to a copy (restic tag writes a
 * tagged copy and deletes the original, which an append-only server refuses to delete), and the
 * copies of any of them (restic copy and tag keep the original's ID in the copy).
 */
export function rejectedAmong(snapshots: SnapshotInfo[], rejected: readonly string[] = []): string[] {
  const all = new Set(rejected)
  for (const snapshot of snapshots) if (snapshot.original && snapshot.tags?.includes(REJECTED_TAG)) all.add(snapshot.original)
  // A copy of a copy: until no snapshot is added.
  for (let size = -1; size !== all.size; ) {
    size = all.size
    for (const snapshot of snapshots) if (snapshot.original && all.has(snapshot.original)) all.add(snapshot.id)
  }
  return [...all]
}

/**
 * What goes into a copy of a host's snapshots: its accepted backups and its saved definitions (a
 * stack comes back from the copy too), never a rejected or a safety snapshot.
 */
export function worthCopying(snapshots: SnapshotInfo[], rejected: readonly string[] = []): SnapshotInfo[] {
  const all = rejectedAmong(snapshots, rejected)
  return snapshots.filter((snapshot) => !isRejected(snapshot, all) && !snapshot.tags?.includes(SAFETY_TAG))
}

/** The newest accepted snapshot: the last good backup. */
export function lastAccepted(snapshots: SnapshotInfo[], rejected: readonly string[] = []): SnapshotInfo | undefined {
  const all = rejectedAmong(snapshots, rejected)
  // By the instant, not the text: times carry their zone's offset, which changes with summer time.
  return snapshots.filter((snapshot) => isAccepted(snapshot, all)).sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).at(-1)
}

/** A snapshot as a person names it: "latest", an ID or its prefix; with a host, that host's latest. */
export interface SnapshotChoice {
  snapshot: string
  host?: string
  /** With "latest": the newest snapshot with this tag. */
  tag?: string
  /** With "latest": the newest snapshot of exactly this path (restic's --path). */
  path?: string
  /** Snapshots the guard rejected that the repository may not say so of: never "latest". */
  rejected?: readonly string[]
}

const filterArgs = (choice: SnapshotChoice) => [
  ...(choice.host ? ['--host', choice.host] : []),
  ...(choice.tag ? ['--tag', choice.tag] : []),
  ...(choice.path ? ['--path', choice.path] : []),
]

/**
 * restic dump, whose stdout is the caller's data (a tar archive, a database dump): --quiet keeps
 * restic's own messages out of it, such as "repo already locked, waiting up to 30m0s for the lock",
 * which restic prints to stdout and which once went into psql in the middle of a restore.
 */
export const dumpArgs = (...rest: string[]) => ['dump', '--quiet', ...rest]

/** Collects stdout of a restic --json command that prints one JSON document or one per line. */
export async function resticJson<T>(restic: Restic, args: string[], log: Logger, expectedExitCodes?: number[]): Promise<T[]> {
  const lines: string[] = []
  await runRestic(restic, args, { log, onStdoutLine: (line) => void lines.push(line), expectedExitCodes })
  // restic writes a line of its own there too while it waits for a lock (--retry-lock).
  return lines.filter((line) => /^\s*[[{]/.test(line)).flatMap((line) => JSON.parse(line) as T | T[])
}

/**
 * The one snapshot a choice names, with its full ID; an unknown ID, or no snapshot at all, is a
 * RunError that says how to list them.
 */
export async function resolveSnapshot(restic: Restic, choice: SnapshotChoice, log: Logger): Promise<SnapshotInfo> {
  if (choice.snapshot === 'latest') return latestAccepted(restic, choice, log)
  let found: SnapshotInfo[]
  try {
    found = await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', ...filterArgs(choice), choice.snapshot], log, [1])
  } catch (error) {
    if (error instanceof RunError && error.exitCode === 1 && /no matching ID|ambiguous|invalid/.test(error.message)) found = []
    else throw error
  }
  const [snapshot] = found
  if (!snapshot) throw new RunError(`there is no snapshot ${JSON.stringify(choice.snapshot)} in the repository ${restic.repository.describe}; list them with "rds snapshots".`)
  return snapshot
}

/**
 * "latest": the newest snapshot the guard accepted, never one it rejected (an emptied volume's),
 * which can still be restored by its ID; of the host named, or of the one host the repository holds.
 */
async function latestAccepted(restic: Restic, choice: SnapshotChoice, log: Logger): Promise<SnapshotInfo> {
  const all = await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', ...filterArgs(choice)], log)
  // Services (and agents) share repositories: the newest of any host would be another's data.
  const hosts = [...new Set(all.map((snapshot) => snapshot.hostname))].sort()
  if (!choice.host && hosts.length > 1) {
    const named = hosts.length > 6 ? `${hosts.slice(0, 6).join(', ')} and ${hosts.length - 6} more` : hosts.join(', ')
    throw new ConfigError(`"latest" names no one snapshot: the repository ${restic.repository.describe} holds snapshots of ${hosts.length} hosts (${named}); name one with --host (rds snapshots lists them).`)
  }
  const latest = lastAccepted(all, choice.rejected)
  if (latest) return latest
  const which = `${choice.tag ? `snapshot tagged ${choice.tag}` : 'snapshot'}${choice.host ? ` of host ${choice.host}` : ''}`
  const rejected = all.length > 0 ? ` that the guard accepted (${all.length} it rejected are kept: name one by its ID to restore it anyway)` : ''
  throw new RunError(`there is no ${which}${rejected} in the repository ${restic.repository.describe}; list them with "rds snapshots".`)
}

/** What `restic ls --json` says of a file or folder. */
export interface SnapshotNode {
  path: string
  type: string
  permissions?: string
  /** Go's file mode: the permission bits, and flags of its own for the type, setuid, setgid and sticky. */
  mode?: number
  uid?: number
  gid?: number
  size?: number
  mtime?: string
}

/** A file or folder of `restic ls --json`'s output (named by struct_type, and by message_type in newer restic); undefined for any other line. */
function nodeOf(line: string): SnapshotNode | undefined {
  if (line.trim() === '') return undefined
  const entry = JSON.parse(line) as SnapshotNode & { struct_type?: string; message_type?: string }
  return entry.struct_type === 'node' || entry.message_type === 'node' ? entry : undefined
}

/**
 * Hands each entry of a snapshot under a path (restic ls) to onNode as restic lists it, so that a
 * snapshot of any size is listed in constant memory; a path that is not in it is a RunError.
 */
export async function listPath(
  restic: Restic,
  snapshot: SnapshotInfo,
  path: string | undefined,
  log: Logger,
  onNode: (node: SnapshotNode) => void | Promise<void> = () => undefined,
): Promise<number> {
  let count = 0
  const onStdoutLine = async (line: string) => {
    const node = nodeOf(line)
    if (!node) return
    count++
    await onNode(node)
  }
  await runRestic(restic, ['ls', '--json', snapshot.id, ...(path ? [path] : [])], { log, onStdoutLine })
  if (path && count === 0) {
    throw new RunError(`${path} is not in snapshot ${snapshot.short_id} (which holds ${snapshot.paths.join(', ')}); list its files with "rds ls ${snapshot.short_id}".`)
  }
  return count
}

/** Hands every entry of a snapshot below a folder, at any depth, to onNode as restic lists it (constant memory). */
export async function walkFolder(restic: Restic, snapshot: SnapshotInfo, dir: string, log: Logger, onNode: (node: SnapshotNode) => void): Promise<void> {
  const below = `${dir.replace(/\/+$/, '')}/`
  const onStdoutLine = (line: string) => {
    const node = nodeOf(line)
    if (node?.path.startsWith(below)) onNode(node)
  }
  await runRestic(restic, ['ls', '--json', '--recursive', snapshot.id, dir], { log, onStdoutLine })
}

/** The snapshots of one host, oldest first; none when the repository does not exist yet. */
export const snapshotsOfHost = (restic: Restic, host: string, log: Logger): Promise<SnapshotInfo[]> => snapshotsOfHosts(restic, [host], log)

/** The snapshots of these hosts (at least one), oldest first; none when the repository does not exist yet. */
export async function snapshotsOfHosts(restic: Restic, hosts: string[], log: Logger): Promise<SnapshotInfo[]> {
  try {
    return await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', '--no-lock', ...hosts.flatMap((host) => ['--host', host])], log, [EXIT.noRepository])
  } catch (error) {
    if (error instanceof RunError && error.exitCode === EXIT.noRepository) return []
    throw error
  }
}
