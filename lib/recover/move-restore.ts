import { ConfigError, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { restoreCommand } from '../dumps/presets.js'
import { RESTORING_LABEL, type TaskPlacement } from '../swarm/cluster.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { placeOn, setConstraints } from '../swarm/placement.js'
import { scaleBack, scaleDown, setServiceLabel } from '../swarm/scale.js'
import { surveyNodes } from '../swarm/volume-survey.js'
import type { Steps } from './safe-restore.js'
import { loadDump, runRestoreHook } from './service-jobs.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'

/** Refuses a node where a running container uses a volume of these names: the restore would rewrite it beneath it. */
async function checkVolumesFree(deps: SwarmJobs, node: TaskPlacement, names: string[], log: Logger, signal?: AbortSignal): Promise<void> {
  if (names.length === 0) return
  const { surveys } = await surveyNodes(deps.docker, deps.template, log, signal)
  const there = surveys.find((survey) => survey.nodeId === node.nodeId)?.volumes ?? []
  const used = there.find((volume) => names.includes(volume.name) && volume.usedBy.some((user) => user.running))
  if (used) throw new ConfigError(`volume ${used.name} on ${node.nodeName} is in use by ${used.usedBy.filter((user) => user.running).map((user) => user.container).join(', ')}; choose another node, or stop what uses it.`)
}

/**
 * Restores a service onto another node and moves it there (--to-node): scaled to 0, its volumes
 * written on the new node (those on its old node are never touched, so no safety snapshot is
 * needed), its placement moved (constraints naming a node replaced by node.id == NEW), scaled back
 * and waited for, its dump loaded there, its post-hook. Any failure moves it back where it was,
 * onto its own data.
 */
export async function restoreOnto(deps: SwarmJobs, { job, plan, node }: Steps, from: TaskPlacement | undefined, log: Logger, signal?: AbortSignal): Promise<void> {
  const backup = job.backup!
  const loader = backup.dump && restoreCommand(backup.dump.preset)
  if (plan.dump && !loader) throw new ConfigError(`the dump of ${job.service} is not a preset's (postgres, mysql or mariadb), so rds cannot load it; restore its volumes alone by snapshot ID, and the dump with rds restore-dump --command.`)
  await checkVolumesFree(deps, node, plan.data ? backup.volumes.map((volume) => volume.source) : [], log, signal)
  let constraints: string[] | undefined
  let stopped = false
  try {
    stopped = true
    await scaleDown(deps.docker, job.service, log)
    for (const volume of plan.data ? backup.volumes : []) {
      const request = { name: `restore-${job.name}-${volume.name}`, nodeId: node.nodeId, volume: volume.source, repoPath: backup.repoPath, snapshotId: plan.data!.id }
      await restoreVolumeOnNode(deps, { ...request, folder: `${VOLUMES_ROOT}/${volume.name}`, includes: [], excludes: backup.excludes, force: true, delete: true }, log, signal)
    }
    constraints = await placeOn(deps.docker, job.service, node.nodeId)
    log.info(`restore: ${job.service} placed on ${node.nodeName}`)
    await scaleBack(deps.docker, job.service, log)
    stopped = false
    // Whole again on its new node: a mark a cut-off restore left on its old one no longer holds.
    if (job.restoring !== undefined) await setServiceLabel(deps.docker, job.service, RESTORING_LABEL, undefined)
    if (plan.dump) await loadDump(deps, job, { snapshotId: plan.dump.id, target: job.service, nodeId: node.nodeId, command: loader!, rejected: [] }, log, signal)
    if (backup.restoreHooks.post) await runRestoreHook(deps, job, 'post', node.nodeId, log, signal)
  } catch (error) {
    const reason = (error as Error).message.replace(/\.$/, '')
    const back = from ? `back to ${from.nodeName}` : 'back where it was placed'
    log.error(`restore: ${reason}; moving ${job.service} ${back}`)
    try {
      if (!stopped) {
        stopped = true
        await scaleDown(deps.docker, job.service, log)
      }
      if (constraints) await setConstraints(deps.docker, job.service, constraints)
      await scaleBack(deps.docker, job.service, log)
      stopped = false
    } catch (rollback) {
      throw new RunError(`the restore of ${job.service} onto ${node.nodeName} failed (${reason}), and so did moving it ${back} (${(rollback as Error).message}); its placement is now ${constraints ? `node.id == ${node.nodeId}` : 'unchanged'}: see docker service inspect ${job.service}.`)
    }
    throw new RunError(`the restore of ${job.service} onto ${node.nodeName} failed (${reason}); it was moved ${back}, onto its own data, which this restore did not change.`)
  } finally {
    if (stopped) await scaleBack(deps.docker, job.service, log).catch((error: Error) => log.error(`restore: could not scale ${job.service} back: ${error.message}`))
  }
}
