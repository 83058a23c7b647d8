import { DUMP_TAG } from '../dumps/presets.js'
import { ConfigError, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { lastAccepted, listPath, rejectedAmong, resolveSnapshot, snapshotsOfHost, type SnapshotInfo } from '../restic/snapshots.js'
import type { SwarmJob } from '../swarm/discover.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'

/** What an in-place restore of a service brings back: its volumes from one snapshot, its dump from another. */
export interface RestorePlan {
  /** The snapshot of its volumes (under /volumes), when it has volumes and they are restored. */
  data?: SnapshotInfo
  /** The snapshot of its dump (tagged dump), when it has one and it is loaded. */
  dump?: SnapshotInfo
}

export interface PlanRequest {
  /** "latest", or a snapshot ID of the service's host (a data or a dump snapshot: only that part is restored). */
  snapshot: string
  /** With "latest": the newest accepted snapshots at or before this time. */
  at?: Date
  /** Snapshots the guard rejected that the repository may not say so of. */
  rejected: readonly string[]
}

const isDump = (snapshot: SnapshotInfo) => snapshot.tags?.includes(DUMP_TAG) === true
const samePaths = (snapshot: SnapshotInfo, path: string) => snapshot.paths.length === 1 && snapshot.paths[0] === path
const describeAt = (at: Date | undefined) => (at ? ` taken at or before ${at.toISOString()}` : '')

/**
 * The snapshots an in-place restore of a job's service uses: with "latest", the newest accepted
 * snapshot of its volumes and of its dump (at or before --at); with an ID, that one snapshot of the
 * job's host. Each volume the service backs up must be in the data snapshot: checked now, before
 * anything is stopped or changed.
 */
export async function planRestore(restic: Restic, job: SwarmJob, request: PlanRequest, log: Logger): Promise<RestorePlan> {
  const backup = job.backup!
  let plan: RestorePlan
  if (request.snapshot !== 'latest') {
    if (request.at) throw new ConfigError('give a snapshot ID or --at TIME, not both: --at chooses the newest snapshots taken before it.')
    const snapshot = await resolveSnapshot(restic, { snapshot: request.snapshot, host: job.name }, log)
    plan = isDump(snapshot) ? { dump: snapshot } : { data: snapshot }
  } else {
    const all = await snapshotsOfHost(restic, job.name, log)
    const rejected = rejectedAmong(all, request.rejected)
    const newest = (wanted: (snapshot: SnapshotInfo) => boolean) =>
      lastAccepted(all.filter((snapshot) => wanted(snapshot) && (!request.at || Date.parse(snapshot.time) <= request.at.getTime())), rejected)
    plan = {
      data: backup.volumes.length > 0 ? newest((snapshot) => !isDump(snapshot) && samePaths(snapshot, VOLUMES_ROOT)) : undefined,
      dump: backup.dump ? newest((snapshot) => isDump(snapshot) && samePaths(snapshot, `/${backup.dump!.filename}`)) : undefined,
    }
    const where = `host ${job.name} in the repository ${restic.repository.describe}`
    if (backup.volumes.length > 0 && !plan.data) throw new RunError(`there is no accepted snapshot of the volumes of ${where}${describeAt(request.at)}; list them with rds snapshots --host ${job.name}.`)
    if (backup.dump && !plan.dump) throw new RunError(`there is no accepted dump of ${where}${describeAt(request.at)}; list them with rds snapshots --host ${job.name}.`)
  }
  if (plan.data) {
    if (!samePaths(plan.data, VOLUMES_ROOT)) throw new ConfigError(`snapshot ${plan.data.short_id} holds ${plan.data.paths.join(', ')}, not a service's volumes (${VOLUMES_ROOT}); restore it with rds restore --to-volume.`)
    if (backup.volumes.length === 0) throw new ConfigError(`service ${job.service} backs up no volume (only its dump), so snapshot ${plan.data.short_id} has nowhere to go; restore it with rds restore --to-volume.`)
    for (const volume of backup.volumes) await listPath(restic, plan.data, `${VOLUMES_ROOT}/${volume.name}`, log)
  }
  if (plan.dump && !backup.dump) throw new ConfigError(`service ${job.service} has no rds.backup.dump, so rds cannot know how to load dump ${plan.dump.short_id}; load it with rds restore-dump --command.`)
  return plan
}
