import { ConfigError, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { listPath } from '../restic/snapshots.js'
import { JOB_LABEL, type SwarmService, type TaskPlacement } from '../swarm/cluster.js'
import { FINAL_STATES } from '../swarm/job-task.js'
import { stoppedOn } from '../swarm/node-stop.js'
import type { SwarmJob } from '../swarm/discover.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { holdBackups } from './hold-backups.js'
import { planRestore } from './restore-plan.js'
import { runRestoreHook } from './service-jobs.js'
import { restoreWithSafety, when, type Steps } from './safe-restore.js'
import { restoreOnto } from './move-restore.js'
import { restoreOnOneNode } from './node-restore.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'

export interface ServiceRestore {
  job: SwarmJob
  service: SwarmService
  /** "latest", or a snapshot ID of the job's host. */
  snapshot: string
  at?: Date
  /** The node to restore it onto and move it to (--to-node); where it runs when undefined. */
  toNode?: TaskPlacement
  /** Files or folders under /volumes/NAME to put back into the live volumes; everything when empty. */
  includes: string[]
  rejected: readonly string[]
}

export interface RestoreDeps extends SwarmJobs {
  resticFor: (repoPath: string) => Restic
  lockDir: string
}

/**
 * Restores a labelled service in place, on the node that runs it: its pre-hook; a safety snapshot
 * of its dump (while it runs) and of its volumes (once scaled to 0); each volume rewritten from the
 * snapshot at its root (what the snapshot lacks deleted); the service scaled back and waited for
 * (running, and healthy where it has a health check); its dump loaded; its post-hook. Any failure
 * puts the safety snapshots back the same way and brings the service back as it was. The job's run
 * lock is held throughout: its scheduled backups wait, so that no backup of a half-restored service
 * becomes its newest snapshot. With `includes`, only those paths go back into the live volumes.
 */
export async function restoreService(deps: RestoreDeps, request: ServiceRestore, log: Logger, signal?: AbortSignal): Promise<void> {
  const { job, service } = request
  const backup = job.backup!
  // A restore that was cut off left the service at 0: its node is in the label it left.
  const leftOn = /on node (\S+)$/.exec(job.restoring ?? '')?.[1]
  const current = job.node ?? (leftOn ? { nodeId: leftOn, nodeName: leftOn } : undefined)
  const moving = request.toNode !== undefined && request.toNode.nodeId !== current?.nodeId
  const node = request.toNode ?? current
  if (service.global && moving) throw new ConfigError(`service ${job.service} is global: it runs on every node, each with volumes of its own; restore one node's volumes in place with --host ${job.service}@NODE, without --to-node.`)
  // A global service's node whose task is stopped by rds (a restore cut off there) or failing (its
  // data there broken, say): its job cannot run, and its volumes there are restored all the same.
  const global = service.global === true && job.node !== undefined && (await wantedOn(deps, service, job.node.nodeId))
  if (job.unavailable && !leftOn && !moving && !global) throw new RunError(job.unavailable)
  const shared = service.global ? job.backup?.volumes.find((volume) => service.sharedVolumes?.includes(volume.source)) : undefined
  if (shared) {
    throw new ConfigError(`service ${job.service} is global and its volume ${shared.source} is shared by its nodes (another driver than local, or NFS or CIFS): a restore on one node would rewrite it under its tasks on the others; stop it on every node (docker service rm), then restore the volume with rds restore --to-volume.`)
  }
  if (!node && service.global) throw new RunError(`service ${job.service} is global and runs on no node, so no node is known to hold its volumes; restore a volume onto a node with rds restore --to-volume.`)
  if (!node) throw new RunError(`service ${job.service} has no running task, so no node is known to hold its volumes; start it (docker service scale ${job.service}=1), or name the node to restore it onto with --to-node.`)
  if (moving && request.includes.length > 0) throw new ConfigError('--path puts files back into the live volumes where the service runs; leave out --to-node.')
  const release = await holdBackups(deps.lockDir, job, log, signal)
  try {
    await refuseLeftoverJobs(deps.docker, job, log)
    const restic = deps.resticFor(backup.repoPath)
    const plan = await planRestore(restic, job, request, log)
    const parts = [plan.data && `volumes ${backup.volumes.map((volume) => volume.name).join(', ')} from ${when(plan.data)}`, plan.dump && `dump ${backup.dump!.filename} from ${when(plan.dump)}`]
    log.info(`restore: ${job.service} on ${node.nodeName}: ${parts.filter(Boolean).join('; ')}`)
    if (request.includes.length > 0) return await restorePaths(deps, { ...request, restic, plan, node }, log, signal)
    if (plan.data && service.perNode && !service.global) {
      throw new ConfigError(`service ${job.service} has replicas on several nodes, each with volumes of its own, and stopping one would start it on another node; restore one node's volumes with rds restore --to-volume, or give --path.`)
    }
    if (plan.dump && service.global) throw new ConfigError(`service ${job.service} is global, and its dump is loaded into one node's database with rds restore-dump --to-container; restore its volumes here by snapshot ID.`)
    if (backup.restoreHooks.pre) {
      if (job.node && !job.unavailable) await runRestoreHook(deps, job, 'pre', job.node.nodeId, log, signal)
      else log.warn(`restore: ${job.service} has no running task to run its restore pre-hook in; going on without it`)
    }
    if (service.global) await restoreOnOneNode(deps, { job, plan, node, restic }, log, signal)
    else if (moving) await restoreOnto(deps, { job, plan, node, restic }, current, log, signal)
    else await restoreWithSafety(deps, { job, plan, node, restic }, log, signal)
    log.info(`restore: ${job.service} is back on ${node.nodeName}: ${parts.filter(Boolean).join('; ')}`)
  } finally {
    await release()
  }
}

/**
 * Whether a global service is meant to run on the node: stopped there by rds, or with a task there
 * that Swarm keeps starting; on a node that is up. Not on one it no longer places on (drained, a
 * constraint): its task would never come back there after the restore.
 */
async function wantedOn(deps: SwarmJobs, service: SwarmService, nodeId: string): Promise<boolean> {
  const node = (await deps.docker.getNode(nodeId).inspect().catch(() => undefined)) as { Status?: { State?: string } } | undefined
  if (node?.Status?.State !== 'ready') return false
  if (stoppedOn(service.serviceLabels).includes(nodeId)) return true
  return (await deps.docker.listTasks({ filters: { service: [service.name], node: [nodeId], 'desired-state': ['running'] } })).length > 0
}

/**
 * A job service of an earlier restore of this job whose task still runs (its command was cut off:
 * the job service outlives it) could go on writing into the volumes with this one: it must end
 * first. One whose task has ended is removed.
 */
async function refuseLeftoverJobs(docker: SwarmJobs['docker'], job: SwarmJob, log: Logger): Promise<void> {
  const names = new Set([`safety-${job.name}`, `restore-dump-${job.name}`, `restore-pre-hook-${job.name}`, `restore-post-hook-${job.name}`, ...(job.backup?.volumes ?? []).map((volume) => `restore-${job.name}-${volume.name}`)])
  const services = (await docker.listServices({ filters: { label: [JOB_LABEL] } })) as { ID: string; Spec?: { Name?: string; Labels?: Record<string, string> } }[]
  const running: string[] = []
  for (const service of services.filter((each) => names.has(each.Spec?.Labels?.[JOB_LABEL] ?? ''))) {
    const tasks = (await docker.listTasks({ filters: { service: [service.ID] } })) as { Status?: { State?: string } }[]
    if (tasks.some((task) => !FINAL_STATES.has(task.Status?.State ?? ''))) running.push(service.Spec?.Name ?? service.ID)
    else await docker.getService(service.ID).remove().then(() => log.info(`restore: removed job service ${service.Spec?.Name}, which an earlier restore of ${job.service} left after it ended`))
  }
  if (running.length > 0) {
    throw new RunError(`job service ${running.join(', ')} of an earlier restore of ${job.service} still runs (that restore was cut off), and could write into its volumes with this one; wait until it has ended (docker service ps), or remove it (docker service rm), then run this again.`)
  }
}

/** --path: single files or folders put back into the live volumes, overwriting those paths only; nothing else is touched. */
async function restorePaths(deps: RestoreDeps, request: ServiceRestore & Omit<Steps, 'job'>, log: Logger, signal?: AbortSignal): Promise<void> {
  const { plan, node, restic } = request
  const backup = request.job.backup!
  if (!plan.data) throw new ConfigError(`--path restores files of ${request.job.service}'s volumes, and the snapshot chosen is its dump; give a snapshot of its volumes.`)
  const folders = backup.volumes.map((volume) => `${VOLUMES_ROOT}/${volume.name}`)
  const outside = request.includes.find((path) => !folders.some((folder) => path === folder || path.startsWith(`${folder}/`)))
  if (outside !== undefined) throw new ConfigError(`--path ${outside} is in none of ${request.job.service}'s volumes; give paths under ${folders.join(' or ')}, as rds ls shows them.`)
  for (const path of request.includes) await listPath(restic, plan.data, path, log)
  for (const volume of backup.volumes) {
    const folder = `${VOLUMES_ROOT}/${volume.name}`
    const inside = request.includes.filter((path) => path === folder || path.startsWith(`${folder}/`)).map((path) => path.slice(folder.length) || '/')
    if (inside.length === 0) continue
    await restoreVolumeOnNode(deps, { name: `restore-${request.job.name}-${volume.name}`, nodeId: node.nodeId, volume: volume.source, repoPath: backup.repoPath, snapshotId: plan.data.id, folder, includes: inside, excludes: [], force: true, delete: false }, log, signal)
  }
  log.info(`restore: ${request.includes.join(', ')} put back into ${request.job.service}'s volumes on ${node.nodeName}`)
}
