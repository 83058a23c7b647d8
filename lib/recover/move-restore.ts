import { ConfigError, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { restoreCommand } from '../dumps/presets.js'
import type { SnapshotInfo } from '../restic/snapshots.js'
import { RESTORING_LABEL, type TaskPlacement } from '../swarm/cluster.js'
import type { SwarmJob } from '../swarm/discover.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { namesOneNode, placeOn, setConstraints } from '../swarm/placement.js'
import { scaleBack, scaleDown, setServiceLabel } from '../swarm/scale.js'
import { surveyNodes } from '../swarm/volume-survey.js'
import { newestSafety, when, type Steps } from './safe-restore.js'
import { loadDump, runRestoreHook, saveSafetySnapshot } from './service-jobs.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'

/**
 * Which of these volumes the node already has. A node that could not be surveyed, or where a
 * running container uses one of them, is refused: the restore would rewrite it beneath it.
 */
async function volumesThere(deps: SwarmJobs, node: TaskPlacement, names: string[], log: Logger, signal?: AbortSignal): Promise<string[]> {
  if (names.length === 0) return []
  const { surveys, unsurveyed } = await surveyNodes(deps.docker, deps.template, log, signal)
  const survey = surveys.find((found) => found.nodeId === node.nodeId)
  if (!survey) {
    const why = unsurveyed.find((entry) => entry.node === node.nodeName || entry.node === node.nodeId)?.why ?? 'it answered no survey'
    throw new RunError(`the volumes of ${node.nodeName} could not be listed (${why}), so rds cannot tell whether a running container uses ${names.join(', ')} there; choose another node, or try again once it answers.`)
  }
  const there = survey.volumes.filter((volume) => names.includes(volume.name))
  const used = there.find((volume) => volume.usedBy.some((user) => user.running))
  if (used) throw new ConfigError(`volume ${used.name} on ${node.nodeName} is in use by ${used.usedBy.filter((user) => user.running).map((user) => user.container).join(', ')}; choose another node, or stop what uses it.`)
  return there.map((volume) => volume.name)
}

const withVolumes = (job: SwarmJob, names: string[]): SwarmJob => ({ ...job, backup: { ...job.backup!, volumes: job.backup!.volumes.filter((volume) => names.includes(volume.source)) } })

/**
 * Restores a service onto another node and moves it there (--to-node): scaled to 0; the volumes of
 * its name the new node already has kept in a safety snapshot; its volumes written there; its
 * placement moved (constraints naming a node replaced by node.id == NEW); scaled back and waited
 * for; its dump loaded there; its post-hook. Its old node's volumes are never touched, so any
 * failure moves it back onto them (the new node's own volumes put back from their safety
 * snapshot) — unless a restore of it was cut off before, leaving those half restored (then it stays
 * at 0 and marked), or that node is down or unknown (then it stays at 0).
 */
export async function restoreOnto(deps: SwarmJobs, { job, plan, node, restic }: Steps, from: TaskPlacement | undefined, log: Logger, signal?: AbortSignal): Promise<void> {
  const backup = job.backup!
  const loader = backup.dump && restoreCommand(backup.dump.preset)
  if (plan.dump && !loader) throw new ConfigError(`the dump of ${job.service} is not one rds loads into a running database (postgres, mysql or mariadb; a sqlite dump is loaded with rds restore-dump --service), so it cannot be part of this restore; restore its volumes alone by snapshot ID, and the dump with rds restore-dump --command.`)
  const existing = await volumesThere(deps, node, plan.data ? backup.volumes.map((volume) => volume.source) : [], log, signal)
  const marked = job.restoring !== undefined
  // Its old node is down (or it ran nowhere): moved back, it would wait there for nothing.
  const homeless = !marked && (from === undefined || job.unavailable !== undefined)
  const stays = marked || homeless
  let constraints: string[] | undefined
  let safety: SnapshotInfo | undefined
  let written = false
  let stopped = false
  // While its data is being written it carries RESTORING_LABEL, as an in-place restore does: cut off,
  // it stays at 0, never started (by the controller's mender) nor backed up on half-written volumes.
  let labelled = marked
  const label = async (value: string | undefined) => {
    await setServiceLabel(deps.docker, job.service, RESTORING_LABEL, value)
    labelled = value !== undefined
  }
  const write = async (snapshot: SnapshotInfo, which: SwarmJob) => {
    for (const volume of which.backup!.volumes) {
      written = true
      const request = { name: `restore-${job.name}-${volume.name}`, nodeId: node.nodeId, volume: volume.source, repoPath: backup.repoPath, snapshotId: snapshot.id }
      await restoreVolumeOnNode(deps, { ...request, folder: `${VOLUMES_ROOT}/${volume.name}`, includes: [], excludes: backup.excludes, force: true, delete: true }, log, signal)
    }
  }
  try {
    stopped = true
    await scaleDown(deps.docker, job.service, log, node.nodeId)
    if (!marked) await label(`moving to ${node.nodeName}; its own data is untouched on node ${from?.nodeId ?? node.nodeId}`)
    if (existing.length > 0) {
      await saveSafetySnapshot(deps, withVolumes(job, existing), 'volumes', node.nodeId, log, signal)
      safety = await newestSafety(restic, job.name, VOLUMES_ROOT, log)
      log.info(`restore: what volumes ${existing.join(', ')} on ${node.nodeName} hold now is kept in safety ${when(safety)}`)
    }
    if (plan.data) await write(plan.data, job)
    constraints = await placeOn(deps.docker, job.service, node.nodeId)
    log.info(`restore: ${job.service} placed on ${node.nodeName}`)
    await scaleBack(deps.docker, job.service, log, node.nodeId)
    stopped = false
    if (plan.dump) await loadDump(deps, job, { snapshotId: plan.dump.id, target: job.service, nodeId: node.nodeId, command: loader!, rejected: [] }, log, signal)
    if (backup.restoreHooks.post) await runRestoreHook(deps, job, 'post', node.nodeId, log, signal)
    // Whole on its new node: the mark (this one's, or a cut-off restore's on its old node) no longer holds.
    await label(undefined)
  } catch (error) {
    const reason = (error as Error).message.replace(/\.$/, '')
    const back = from ? `back to ${from.nodeName}` : 'back where it was placed'
    log.error(`restore: ${reason}; ${stays ? 'stopping' : 'moving'} ${job.service} ${back}`)
    try {
      if (signal?.aborted) throw new Error('interrupted')
      // Whatever `stopped` says: a scale-back that failed waiting may have started it.
      stopped = true
      await scaleDown(deps.docker, job.service, log, node.nodeId)
      if (written && safety) await write(safety, withVolumes(job, existing))
      // Back onto its own data: a placement that named no node is pinned to its old one.
      if (constraints) await setConstraints(deps.docker, job.service, constraints.some(namesOneNode) || !from ? constraints : [...constraints, `node.id == ${from.nodeId}`])
      if (!stays) {
        await label(undefined)
        await scaleBack(deps.docker, job.service, log, node.nodeId)
        stopped = false
      }
    } catch (rollback) {
      const kept = safety ? `; what ${node.nodeName}'s volumes held is in safety ${when(safety)}` : ''
      throw new RunError(`the restore of ${job.service} onto ${node.nodeName} failed (${reason}), and so did moving it ${back} (${(rollback as Error).message})${kept}; it is left at 0${labelled ? ` and marked (${RESTORING_LABEL})` : ''}, its placement ${constraints ? `node.id == ${node.nodeId}, or as it was` : 'as it was'}: see docker service inspect ${job.service}, and run the restore again.`)
    }
    const undone = safety && written ? `, ${node.nodeName}'s own volumes put back from safety ${when(safety)}` : ''
    if (marked) throw new RunError(`the restore of ${job.service} onto ${node.nodeName} failed (${reason}); a restore of it had been cut off before, leaving its volumes${from ? ` on ${from.nodeName}` : ''} half restored, so it is left at 0 and marked (${RESTORING_LABEL})${undone}: run rds restore --service ${job.service} again.`)
    if (homeless) throw new RunError(`the restore of ${job.service} onto ${node.nodeName} failed (${reason}); it ran on no node that is up${from ? ` (${from.nodeName} is not)` : ''}, so it is left at 0 and marked (${RESTORING_LABEL}) with its placement as it was${undone}: run the restore again, or onto another node.`)
    throw new RunError(`the restore of ${job.service} onto ${node.nodeName} failed (${reason}); it was moved ${back}, onto its own data, which this restore did not change${undone}.`)
  } finally {
    if (stopped && !stays && !labelled) await scaleBack(deps.docker, job.service, log, node.nodeId).catch((error: Error) => log.error(`restore: could not scale ${job.service} back: ${error.message}`))
  }
}
