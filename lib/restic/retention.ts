import type { Retention } from '../config/environment.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from './command.js'
import { isAccepted, isRejected, rejectedAmong, resticJson, type SnapshotInfo } from './snapshots.js'

const KEEP_OPTIONS = [
  ['last', '--keep-last'],
  ['hourly', '--keep-hourly'],
  ['daily', '--keep-daily'],
  ['weekly', '--keep-weekly'],
  ['monthly', '--keep-monthly'],
  ['yearly', '--keep-yearly'],
  ['within', '--keep-within'],
] as const

/** The policy's --keep-* options; empty when no KEEP_* variable is set, which means keep everything. */
export function keepArgs(retention: Retention): string[] {
  return KEEP_OPTIONS.flatMap(([key, option]) => {
    const value = retention[key]
    return value === undefined ? [] : [option, String(value)]
  })
}

/**
 * How restic forget groups snapshots for a policy: by host, paths and tags, so that a restore's
 * safety snapshots (tagged rds-safety) and a run's other tagged ones are kept by a policy of their
 * own, and never take the places of the backups in theirs (keep-last 2 would otherwise keep two
 * safety snapshots and forget every backup).
 */
export const GROUP_BY = ['--group-by', 'host,paths,tags']

/**
 * restic forget for this agent's own snapshots only (--host), so agents that share a repository
 * never apply their policy to each other's snapshots. Undefined when there is no policy.
 */
export function forgetArgs(retention: Retention, snapshotHost: string | readonly string[]): string[] | undefined {
  const keep = keepArgs(retention)
  if (keep.length === 0) return undefined
  return ['forget', ...hostArgs(snapshotHost), ...GROUP_BY, ...keep, ...(retention.prune ? ['--prune'] : [])]
}

/** The policy in words for the start-up log, e.g. "keep-daily 7, keep-weekly 4, then prune". */
export function describeRetention(retention: Retention): string {
  const keep = keepArgs(retention)
  if (keep.length === 0) return 'none: every snapshot is kept (set KEEP_* to forget old ones)'
  const pairs: string[] = []
  for (let i = 0; i < keep.length; i += 2) pairs.push(`${keep[i]?.slice(2)} ${keep[i + 1]}`)
  return pairs.join(', ') + (retention.prune ? ', then prune' : ' (forget only; set PRUNE=true to free space)')
}

/** --host for each host (restic takes the snapshots of any of them). */
const hostArgs = (hosts: string | readonly string[]) => (typeof hosts === 'string' ? [hosts] : hosts).flatMap((host) => ['--host', host])

// restic's groups for forget: host and paths.
const group = (snapshot: SnapshotInfo) => `${snapshot.hostname}\n${[...snapshot.paths].sort().join('\n')}`

/**
 * The guard's verdicts on a repository's snapshots: which are rejected, when each group's newest
 * accepted snapshot was taken, and the hosts whose newest snapshot of a group was rejected (a
 * lost volume not yet mended: their retention waits, or it would count the rejected ones).
 */
export function verdicts(snapshots: SnapshotInfo[], recorded: readonly string[] = []): { rejected: SnapshotInfo[]; heldHosts: string[] } {
  const ids = rejectedAmong(snapshots, recorded)
  const newestAccepted = new Map<string, number>()
  const newest = new Map<string, SnapshotInfo>()
  for (const snapshot of snapshots) {
    const key = group(snapshot)
    if (isAccepted(snapshot, ids)) newestAccepted.set(key, Math.max(newestAccepted.get(key) ?? 0, Date.parse(snapshot.time)))
    if (!newest.has(key) || Date.parse(snapshot.time) >= Date.parse(newest.get(key)!.time)) newest.set(key, snapshot)
  }
  // Only those older than an accepted snapshot of their group: until a backup is accepted again,
  // the rejected ones may hold the newest data there is, and are kept to be restored by their IDs.
  const rejected = snapshots.filter((snapshot) => isRejected(snapshot, ids) && Date.parse(snapshot.time) < (newestAccepted.get(group(snapshot)) ?? 0))
  const heldHosts = [...new Set([...newest.values()].filter((snapshot) => isRejected(snapshot, ids)).map((snapshot) => snapshot.hostname))].sort()
  return { rejected, heldHosts }
}

/**
 * Forgets the snapshots the guard rejected (of some hosts, or all) that an accepted snapshot of
 * their group has followed, before a policy is applied: restic's policy has no way to pass them
 * over, and kept they would take the places of accepted ones, until a lost volume's empty nights
 * had pushed every good snapshot out. Resolves to the hosts whose newest snapshot is rejected:
 * their policy must wait, and to the snapshots listed before (so that a caller need not list them again).
 */
export async function forgetRejected(
  restic: Restic,
  log: Logger,
  options: { host?: string | readonly string[]; rejected?: readonly string[] } = {},
): Promise<{ heldHosts: string[]; listed: SnapshotInfo[] }> {
  const listed = await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', '--no-lock', ...hostArgs(options.host ?? [])], log)
  const { rejected, heldHosts } = verdicts(listed, options.rejected)
  if (rejected.length > 0) {
    log.info(`retention: forgetting ${rejected.length} snapshot(s) the guard rejected, which would otherwise take the places of accepted ones`)
    await runRestic(restic, ['forget', ...rejected.map((snapshot) => snapshot.id)], { log })
  }
  return { heldHosts, listed }
}
