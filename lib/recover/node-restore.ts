import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { SnapshotInfo } from '../restic/snapshots.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { markRestoringOn, noTaskOn, restoringOnLabel, startOnNode, stopOnNode } from '../swarm/node-stop.js'
import { newestSafety, when, type Steps } from './safe-restore.js'
import { runRestoreHook, saveSafetySnapshot } from './service-jobs.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'
import { setServiceLabel } from '../swarm/scale.js'

/**
 * The in-place restore of one node's volumes of a global service (its job SERVICE@NODE, whose run
 * lock the caller holds): its task on that node alone stopped (stopOnNode: its tasks elsewhere run
 * on), a safety snapshot of what its volumes there hold, each volume rewritten from the snapshot at
 * its root, its task there started again and waited for, its post-hook run. Any failure puts the
 * safety snapshot back the same way and starts it there again. Cut off while its volumes are
 * rewritten, it stays stopped on that node and marked (rds.restoring.NODE), never started nor
 * backed up there on half its data, until a restore of it there finishes; cut off before or after,
 * the controller starts it there again.
 */
export async function restoreOnOneNode(deps: SwarmJobs, { job, plan, node, restic }: Steps, log: Logger, signal?: AbortSignal): Promise<void> {
  const { docker } = deps
  const backup = job.backup!
  const data = plan.data!
  const mark = restoringOnLabel(node.nodeId)
  // What is known of it: its volumes partly written, marked, started again there.
  const state = { touched: false, marked: false, lifted: false }
  // A mark found when it is stopped is a restore of it there that was cut off: what its volumes hold is half restored.
  let wasMarked = false
  let safety: SnapshotInfo | undefined
  const stop = async () => {
    state.lifted = false
    const found = await stopOnNode(docker, job.service, node.nodeId, log)
    if (found !== undefined && !state.touched) wasMarked = true
    await noTaskOn(docker, job.service, node.nodeId, signal)
    log.info(`stop: ${job.service} has no container left on node ${node.nodeName}`)
  }
  const writeVolumes = async (snapshot: SnapshotInfo) => {
    await markRestoringOn(docker, job.service, node.nodeId, `volumes from ${snapshot.short_id}${safety ? `, safety snapshot ${safety.short_id}` : ''}`)
    state.marked = true
    // A stack deploy may have started it there again just before the mark: never written under it.
    await noTaskOn(docker, job.service, node.nodeId, signal)
    for (const volume of backup.volumes) {
      state.touched = true
      const folder = `${VOLUMES_ROOT}/${volume.name}`
      await restoreVolumeOnNode(deps, { name: `restore-${job.name}-${volume.name}`, nodeId: node.nodeId, volume: volume.source, repoPath: backup.repoPath, snapshotId: snapshot.id, folder, includes: [], excludes: backup.excludes, force: true, delete: true }, log, signal)
    }
    await markRestoringOn(docker, job.service, node.nodeId, undefined)
    state.marked = false
  }
  const start = async () => {
    if ((await startOnNode(docker, job.service, node.nodeId, log, true, signal)) === 'marked') throw new Error(`it is still marked ${mark}, so it was not started there`)
    state.lifted = true
  }
  const again = `rds restore --service ${job.service} --host ${job.name}`
  try {
    // A mark found here is a restore of it there that was cut off: what its volumes hold is half restored.
    await stop()
    await saveSafetySnapshot(deps, job, 'volumes', node.nodeId, log, signal)
    safety = await newestSafety(restic, job.name, VOLUMES_ROOT, log)
    log.info(`restore: what ${job.service}'s volumes on ${node.nodeName} hold now is kept in safety ${when(safety)}`)
    await writeVolumes(data)
    await start()
    if (backup.restoreHooks.post) await runRestoreHook(deps, job, 'post', node.nodeId, log, signal)
  } catch (error) {
    const reason = (error as Error).message.replace(/\.$/, '')
    const kept = safety ? `; what its volumes held before this restore is kept in safety ${when(safety)}` : ''
    if (wasMarked) {
      // What it held before is what the cut-off restore left: never worth putting back.
      if (state.marked || !state.touched) throw new RunError(`the restore of ${job.service} on ${node.nodeName} failed (${reason}); a restore of it there had been cut off before, leaving its volumes there half restored, so it is left stopped there and marked (${mark}): run ${again} again.`)
      throw new RunError(`the restore of ${job.service} on ${node.nodeName} wrote its volumes there from ${when(data)}, then failed (${reason}); what they held before was half restored by a restore that was cut off, so nothing was put back${state.lifted ? ', and it runs there' : ': see docker service ps ' + job.service}.`)
    }
    if (!state.touched) {
      try {
        // Marked by this restore before it wrote anything (whatever holds now of its stop): the mark goes, then the stop.
        if (state.marked) await setServiceLabel(docker, job.service, mark, undefined)
        state.marked = false
        await start()
      } catch (startError) {
        log.error(`restore: could not start ${job.service} on ${node.nodeName} again (${(startError as Error).message}); its volumes there are whole: if rds jobs says it is stopped there, run ${again}`)
      }
      throw new RunError(`the restore of ${job.service} on ${node.nodeName} stopped before it changed anything: ${reason}.`)
    }
    log.error(`restore: ${reason}; putting back what ${job.service}'s volumes on ${node.nodeName} held before`)
    try {
      if (signal?.aborted) throw new Error('interrupted')
      // After a failed post-hook its task runs there again: stopped before its volumes are rewritten.
      await stop()
      await writeVolumes(safety!)
      await start()
    } catch (rollback) {
      const now = state.marked ? `it is left stopped there and marked (${mark})` : state.lifted ? 'it runs there' : `see docker service ps ${job.service}`
      throw new RunError(`the restore of ${job.service} on ${node.nodeName} failed (${reason}), and so did putting back what its volumes held before (${(rollback as Error).message}); ${now}${kept}: put it back with ${again} ${safety!.short_id}.`)
    }
    throw new RunError(`the restore of ${job.service} on ${node.nodeName} failed (${reason}); its volumes there were put back as they were (safety ${when(safety!)}), and it runs there again.`)
  }
}
