import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { SnapshotInfo } from '../restic/snapshots.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { markRestoringOn, restoringOnLabel, startOnNode, stopOnNode } from '../swarm/node-stop.js'
import { newestSafety, when, type Steps } from './safe-restore.js'
import { runRestoreHook, saveSafetySnapshot } from './service-jobs.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'

/**
 * The in-place restore of one node's volumes of a global service (its job SERVICE@NODE): its task
 * on that node alone stopped (stopOnNode: its tasks elsewhere run on), a safety snapshot of what
 * its volumes there hold, each volume rewritten from the snapshot at its root, its task there
 * started again and waited for, its post-hook run. Any failure puts the safety snapshot back the
 * same way and starts it there again. Cut off while its volumes are rewritten, it stays stopped on
 * that node and marked (rds.restoring.NODE), never started nor backed up there on half its data,
 * until a restore of it there finishes.
 */
export async function restoreOnOneNode(deps: SwarmJobs, { job, plan, node, restic }: Steps, log: Logger, signal?: AbortSignal): Promise<void> {
  const { docker } = deps
  const backup = job.backup!
  const data = plan.data!
  const wasMarked = job.restoring !== undefined
  // marked: as far as is known, its rds.restoring.NODE is set (set before the update that sets it is sent).
  const state = { touched: false, marked: wasMarked }
  let safety: SnapshotInfo | undefined
  const stop = async (why: string) => {
    state.marked = true
    await stopOnNode(docker, job.service, node.nodeId, why, log, signal)
  }
  const unmark = async () => {
    await markRestoringOn(docker, job.service, node.nodeId, undefined)
    state.marked = false
  }
  const writeVolumes = async (snapshot: SnapshotInfo) => {
    state.marked = true
    await markRestoringOn(docker, job.service, node.nodeId, `volumes from ${snapshot.short_id}${safety ? `, safety snapshot ${safety.short_id}` : ''}`)
    for (const volume of backup.volumes) {
      state.touched = true
      const folder = `${VOLUMES_ROOT}/${volume.name}`
      await restoreVolumeOnNode(deps, { name: `restore-${job.service}-${volume.name}`, nodeId: node.nodeId, volume: volume.source, repoPath: backup.repoPath, snapshotId: snapshot.id, folder, includes: [], excludes: backup.excludes, force: true, delete: true }, log, signal)
    }
    await unmark()
  }
  const start = async () => {
    if (!(await startOnNode(docker, job.service, node.nodeId, log, true, signal))) throw new Error(`it is still marked ${restoringOnLabel(node.nodeId)}, so it was not started there`)
  }
  // The mark is set with the stop: cut off before the safety snapshot, it stays stopped there until a restore finishes.
  await stop(wasMarked ? job.restoring! : `stopped for a restore of volumes from ${data.short_id}`)
  try {
    await saveSafetySnapshot(deps, job, 'volumes', node.nodeId, log, signal)
    safety = await newestSafety(restic, job.name, VOLUMES_ROOT, log)
    log.info(`restore: what ${job.service}'s volumes on ${node.nodeName} hold now is kept in safety ${when(safety)}`)
    await writeVolumes(data)
    await start()
    if (backup.restoreHooks.post) await runRestoreHook(deps, job, 'post', node.nodeId, log, signal)
  } catch (error) {
    const reason = (error as Error).message.replace(/\.$/, '')
    if (wasMarked) {
      throw new RunError(`the restore of ${job.service} on ${node.nodeName} failed (${reason}); as a restore of it there had been cut off before, what its volumes there held was half restored, so it is left stopped there and marked (${restoringOnLabel(node.nodeId)}): run rds restore --service ${job.service} --host ${job.name} again.`)
    }
    if (!state.touched) {
      await unmark()
      await start()
      throw new RunError(`the restore of ${job.service} on ${node.nodeName} stopped before it changed anything: ${reason}.`)
    }
    log.error(`restore: ${reason}; putting back what ${job.service}'s volumes on ${node.nodeName} held before`)
    try {
      if (signal?.aborted) throw new Error('interrupted')
      // After a failed post-hook its task runs there again: stopped before its volumes are rewritten.
      await stop(`putting back safety snapshot ${safety!.short_id}`)
      await writeVolumes(safety!)
      await start()
    } catch (rollback) {
      throw new RunError(`the restore of ${job.service} on ${node.nodeName} failed (${reason}), and so did putting back what its volumes held before (${(rollback as Error).message}); ${state.marked ? `it is left stopped there and marked (${restoringOnLabel(node.nodeId)})` : 'it runs there on the restored volumes'}; its safety snapshot is kept: put it back with rds restore --service ${job.service} --host ${job.name} ${safety!.short_id}.`)
    }
    throw new RunError(`the restore of ${job.service} on ${node.nodeName} failed (${reason}); its volumes there were put back as they were (safety ${when(safety!)}), and it runs there again.`)
  }
}
