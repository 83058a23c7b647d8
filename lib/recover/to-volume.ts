import { ConfigError, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { SwarmNode } from '../swarm/cluster.js'
import { surveyNodes } from '../swarm/volume-survey.js'
import { restoreVolumeOnNode, type SwarmJobs } from './volume-job.js'
import type { ChosenSnapshot } from './swarm-snapshot.js'

export interface ToVolume {
  volume: string
  /** The node to restore on, by name or ID; else the one node that has the volume. */
  toNode?: string
  includes: string[]
  excludes: string[]
  force: boolean
  delete: boolean
}

/** The node a name or ID means, or a ConfigError naming the nodes there are. */
export function findNode(nodes: SwarmNode[], wanted: string, option: string): SwarmNode {
  const node = nodes.find((candidate) => candidate.name === wanted || candidate.id === wanted)
  if (!node) throw new ConfigError(`${option} ${wanted} is no node of this Swarm; its nodes are ${nodes.map((candidate) => candidate.name).join(', ')} (docker node ls).`)
  if (node.state !== 'ready' || node.availability !== 'active') throw new ConfigError(`${option} ${wanted}: the node is ${node.state} and ${node.availability}, so no job can run there; choose a node that is ready and active.`)
  return node
}

/**
 * With MODE=swarm, `rds restore --to-volume`: on the node that has the volume (the one node whose
 * survey lists it), or on --to-node, never silently on the controller's own node. A volume that a
 * running container uses is refused: its service would read a volume being rewritten beneath it.
 */
export async function restoreToVolumeInSwarm(swarm: SwarmJobs, nodes: SwarmNode[], chosen: ChosenSnapshot, request: ToVolume, log: Logger, signal?: AbortSignal): Promise<void> {
  const wanted = request.toNode === undefined ? undefined : findNode(nodes, request.toNode, '--to-node')
  const { surveys, unsurveyed } = await surveyNodes(swarm.docker, swarm.template, log, signal)
  const holders = surveys.filter((survey) => survey.volumes.some((volume) => volume.name === request.volume))
  const node = wanted ?? nodes.find((candidate) => holders.length === 1 && candidate.id === holders[0]!.nodeId)
  if (!node) {
    const unknown = unsurveyed.length > 0 ? ` (the volumes of ${unsurveyed.map((entry) => `${entry.node}: ${entry.why}`).join('; ')} are unknown)` : ''
    if (holders.length === 0) throw new ConfigError(`no node has a volume ${request.volume}${unknown}; name the node to create it on with --to-node.`)
    throw new ConfigError(`nodes ${holders.map((survey) => survey.node).join(' and ')} each have a volume ${request.volume}; name the one to restore into with --to-node.`)
  }
  const survey = surveys.find((found) => found.nodeId === node.id)
  if (!survey) {
    const why = unsurveyed.find((entry) => entry.node === node.name || entry.node === node.id)?.why ?? 'it answered no survey'
    throw new RunError(`the volumes of ${node.name} could not be listed (${why}), so rds cannot tell whether a running container uses ${request.volume} there; try again once it answers.`)
  }
  const there = survey.volumes.find((volume) => volume.name === request.volume)
  const users = (there?.usedBy ?? []).filter((user) => user.running)
  if (users.length > 0) {
    const services = [...new Set(users.map((user) => user.service).filter(Boolean))]
    const hint = services.length > 0 ? `restore service ${services[0]} in place with rds restore --service ${services[0]}, or scale it to 0 first` : 'stop it first'
    throw new ConfigError(`volume ${request.volume} on ${node.name} is in use by ${users.map((user) => user.container).join(', ')}; ${hint}.`)
  }
  log.info(`restore: snapshot ${chosen.snapshot.short_id}:${chosen.folder} of ${chosen.snapshot.hostname} into volume ${request.volume} on ${node.name}${there ? '' : ' (created there)'}`)
  await restoreVolumeOnNode(
    swarm,
    { name: `restore-${request.volume}`, nodeId: node.id, volume: request.volume, repoPath: chosen.repoPath, snapshotId: chosen.snapshot.id, folder: chosen.folder, includes: request.includes, excludes: request.excludes, force: request.force, delete: request.delete },
    log,
    signal,
  )
  log.info(`restore: volume ${request.volume} on ${node.name} done`)
}
