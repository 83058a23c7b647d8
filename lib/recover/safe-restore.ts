import { ConfigError, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { restoreCommand } from '../dumps/presets.js'
import { resticJson, SAFETY_TAG, type SnapshotInfo } from '../restic/snapshots.js'
import { RESTORING_LABEL, type TaskPlacement } from '../swarm/cluster.js'
import type { SwarmJob } from '../swarm/discover.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { pinToNode } from '../swarm/placement.js'
import { interruptedRestore, scaleBack, scaleDown, setServiceLabel } from '../swarm/scale.js'
import type { RestorePlan } from './restore-plan.js'
import { loadDump, runRestoreHook, saveSafetySnapshot } from './service-jobs.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'

export interface Steps {
  job: SwarmJob
  plan: RestorePlan
  node: TaskPlacement
  restic: Restic
}

export const when = (snapshot: SnapshotInfo) => `snapshot ${snapshot.short_id} of ${snapshot.time}`

/** The newest safety snapshot of a host's path: the one the job just saved. */
export async function newestSafety(restic: Restic, host: string, path: string, log: Logger): Promise<SnapshotInfo> {
  const found = await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', '--no-lock', '--host', host, '--tag', SAFETY_TAG, '--path', path], log)
  const newest = found.sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).at(-1)
  if (!newest) throw new RunError(`the safety snapshot of ${host} (${path}) is not in the repository ${restic.repository.describe} after its job succeeded.`)
  return newest
}

/**
 * The safety snapshots, the restore, and on any failure the way back (see restoreService). While
 * its data is being rewritten the service carries RESTORING_LABEL: if this is cut off there (the
 * command killed, the manager lost), the service is left as it is, at 0 and labelled, never
 * started nor backed up on half-restored data, until a restore of it runs again and finishes.
 */
export async function restoreWithSafety(deps: SwarmJobs, { job, plan, node, restic }: Steps, log: Logger, signal?: AbortSignal): Promise<void> {
  const backup = job.backup!
  const loader = backup.dump && restoreCommand(backup.dump.preset)
  if (plan.dump && !loader) throw new ConfigError(`the dump of ${job.service} is not one rds loads into a running database (postgres, mysql or mariadb; a sqlite dump is loaded with rds restore-dump --service), so it cannot be part of this restore; restore its volumes alone by snapshot ID, and the dump with rds restore-dump --command.`)
  const safety: { data?: SnapshotInfo; dump?: SnapshotInfo } = {}
  // Marked already: a restore of it was cut off, and what it holds is half restored.
  const wasMarked = job.restoring !== undefined
  const state = { stopped: false, volumesTouched: false, dumpTouched: false, marked: wasMarked }
  const mark = async (why: string) => {
    await setServiceLabel(deps.docker, job.service, RESTORING_LABEL, `${why} on node ${node.nodeId}`)
    state.marked = true
  }
  const unmark = async () => {
    await setServiceLabel(deps.docker, job.service, RESTORING_LABEL, undefined)
    state.marked = false
  }
  const writeVolumes = async (snapshot: SnapshotInfo) => {
    await mark(`volumes from ${snapshot.short_id}, safety snapshot ${safety.data!.short_id}`)
    for (const volume of backup.volumes) {
      state.volumesTouched = true
      const folder = `${VOLUMES_ROOT}/${volume.name}`
      await restoreVolumeOnNode(deps, { name: `restore-${job.name}-${volume.name}`, nodeId: node.nodeId, volume: volume.source, repoPath: backup.repoPath, snapshotId: snapshot.id, folder, includes: [], excludes: backup.excludes, force: true, delete: true }, log, signal)
    }
    await unmark()
  }
  const load = async (snapshot: SnapshotInfo) => {
    await mark(`dump from ${snapshot.short_id}, safety snapshot ${safety.dump!.short_id}`)
    state.dumpTouched = true
    await loadDump(deps, job, { snapshotId: snapshot.id, target: job.service, nodeId: node.nodeId, command: loader!, rejected: [] }, log, signal)
    await unmark()
  }
  // Idempotent: a scale-back whose update went through but whose wait failed is stopped again.
  const stop = async () => {
    state.stopped = true
    await scaleDown(deps.docker, job.service, log, node.nodeId)
    // A service no constraint places could come back on another node, away from its restored data.
    if (await pinToNode(deps.docker, job.service, node.nodeId)) log.warn(`restore: ${job.service} is now placed on node ${node.nodeName} (node.id == ${node.nodeId}), where its data is; its own placement named no node (a docker stack deploy puts that back)`)
  }
  const start = async () => {
    await scaleBack(deps.docker, job.service, log, node.nodeId)
    state.stopped = false
  }
  // A dump is taken from the running database: one at 0 (a restore of it cut off) has none to give.
  const running = job.node !== undefined && !job.unavailable
  if (plan.dump && !running && !plan.data) throw new RunError(`service ${job.service} has no running task, so its database cannot take the dump; start it (docker service scale ${job.service}=1), or restore its volumes too.`)
  try {
    if (plan.dump && !running) log.warn(`restore: ${job.service} has no running task, so what its database holds now is not dumped into a safety snapshot (its volumes' safety snapshot is taken)`)
    else if (plan.dump) {
      // Taken while it runs, before the stop: a rollback that puts both back loses what was written in between.
      await saveSafetySnapshot(deps, job, 'dump', node.nodeId, log, signal)
      safety.dump = await newestSafety(restic, job.name, `/${backup.dump!.filename}`, log)
      log.info(`restore: what ${job.service}'s database holds now is kept in safety ${when(safety.dump)}`)
    }
    if (plan.data) {
      await stop()
      await saveSafetySnapshot(deps, job, 'volumes', node.nodeId, log, signal)
      safety.data = await newestSafety(restic, job.name, VOLUMES_ROOT, log)
      log.info(`restore: what ${job.service}'s volumes hold now is kept in safety ${when(safety.data)}`)
      await writeVolumes(plan.data)
      await start()
    }
    if (plan.dump) await load(plan.dump)
    if (backup.restoreHooks.post) await runRestoreHook(deps, job, 'post', node.nodeId, log, signal)
  } catch (error) {
    // Each step's error is a sentence of its own, here within one.
    const reason = (error as Error).message.replace(/\.$/, '')
    if (!state.volumesTouched && !state.dumpTouched) {
      if (state.stopped && !state.marked) await start()
      throw new RunError(`the restore of ${job.service} stopped before it changed anything: ${reason}.`)
    }
    if (wasMarked) {
      // What it held before this restore is what the cut-off one left: never worth starting on.
      await stop()
      await mark(`a restore failed after one was cut off`)
      throw new RunError(`the restore of ${job.service} failed (${reason}); as a restore of it had been cut off before, what it held was half restored, so it is left at 0 and marked (${RESTORING_LABEL}): run rds restore --service ${job.service} again.`)
    }
    log.error(`restore: ${reason}; putting back what ${job.service} held before`)
    try {
      if (signal?.aborted) throw new Error('interrupted')
      if (state.volumesTouched) {
        // Whatever the state says: a scale-back that failed waiting may have started it.
        await stop()
        await writeVolumes(safety.data!)
      }
      if (state.stopped) await start()
      if (state.dumpTouched) {
        if (!safety.dump) throw new Error(`there is no safety snapshot of its database: it did not run when the restore began`)
        await load(safety.dump)
      }
    } catch (rollback) {
      const by = [safety.data, safety.dump].filter(Boolean).map((snapshot) => `rds restore --service ${job.service} ${snapshot!.short_id}`).join(' and ')
      throw new RunError(`the restore of ${job.service} failed (${reason}), and so did putting back what it held before (${(rollback as Error).message}); its safety snapshots are kept: put them back with ${by}.`)
    }
    throw new RunError(`the restore of ${job.service} failed (${reason}); it was rolled back to what it held before (${[safety.data, safety.dump].filter(Boolean).map((snapshot) => `safety snapshot ${snapshot!.short_id}`).join(', ')}), and runs.`)
  } finally {
    // A service whose data is whole again never stays at 0; one cut off half-way does, and says so.
    if (state.marked && state.stopped) log.error(`restore: ${interruptedRestore(job.service, 'this restore')}`)
    else if (state.marked) log.error(`restore: service ${job.service} runs, but on a database whose load was cut off (${RESTORING_LABEL}=this restore); it is not backed up until a restore of it finishes: run rds restore --service ${job.service} (again).`)
    else if (state.stopped) await scaleBack(deps.docker, job.service, log).catch((error: Error) => log.error(`restore: could not scale ${job.service} back: ${error.message}`))
  }
}
