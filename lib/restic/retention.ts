import type { Retention } from '../config/environment.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from './command.js'
import { isAccepted, rejectedAmong, resticJson, type SnapshotInfo } from './snapshots.js'

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
 * restic forget for this agent's own snapshots only (--host), so agents that share a repository
 * never apply their policy to each other's snapshots. Undefined when there is no policy.
 */
export function forgetArgs(retention: Retention, snapshotHost: string): string[] | undefined {
  const keep = keepArgs(retention)
  if (keep.length === 0) return undefined
  return ['forget', '--host', snapshotHost, ...keep, ...(retention.prune ? ['--prune'] : [])]
}

/** The policy in words for the start-up log, e.g. "keep-daily 7, keep-weekly 4, then prune". */
export function describeRetention(retention: Retention): string {
  const keep = keepArgs(retention)
  if (keep.length === 0) return 'none: every snapshot is kept (set KEEP_* to forget old ones)'
  const pairs: string[] = []
  for (let i = 0; i < keep.length; i += 2) pairs.push(`${keep[i]?.slice(2)} ${keep[i + 1]}`)
  return pairs.join(', ') + (retention.prune ? ', then prune' : ' (forget only; set PRUNE=true to free space)')
}

/**
 * Forgets the snapshots the guard rejected (of one host, or all), before a policy is applied:
 * restic's policy has no way to pass them over, and kept they would take the places of accepted
 * ones, until a lost volume's empty nights had pushed every good snapshot out. A rejected
 * snapshot holds only what the volume held when it was rejected; the accepted ones are the backup.
 * Resolves to how many were forgotten.
 */
export async function forgetRejected(restic: Restic, log: Logger, options: { host?: string; rejected?: readonly string[] } = {}): Promise<number> {
  const snapshots = await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', '--no-lock', ...(options.host ? ['--host', options.host] : [])], log)
  const rejected = rejectedAmong(snapshots, options.rejected)
  const ids = snapshots.filter((snapshot) => !isAccepted(snapshot, rejected)).map((snapshot) => snapshot.id)
  if (ids.length === 0) return 0
  log.info(`retention: forgetting ${ids.length} snapshot(s) the guard rejected, which would otherwise take the places of accepted ones`)
  await runRestic(restic, ['forget', ...ids], { log })
  return ids.length
}
