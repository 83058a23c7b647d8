import { readConfig } from '../config/environment.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { nameNodes } from '../swarm/cluster.js'
import type { SwarmJob } from '../swarm/discover.js'
import { chooseSnapshot, jobOfHost } from '../recover/swarm-snapshot.js'
import { restoreService } from '../recover/service-restore.js'
import { findNode, restoreToVolumeInSwarm } from '../recover/to-volume.js'
import { parseAt, snapshotChoice, type CliContext } from './context.js'
import { rejectedSnapshots } from '../observe/status-file.js'
import { withController } from './with-controller.js'

/** What rds restore was given (see restore.ts). */
export interface RestoreOptions {
  target?: string
  toVolume?: string
  toNode?: string
  service?: string
  at?: string
  path: string[]
  exclude: string[]
  force?: boolean
  delete?: boolean
  host?: string
}

/** With MODE=swarm: `rds restore --service` (in place) and `rds restore --to-volume` (on the volume's node). */
export function restoreInSwarm(cli: CliContext, log: Logger, options: RestoreOptions & { snapshot: string; folder?: string }): Promise<number> {
  const config = readConfig(cli.env)
  const at = options.at === undefined ? undefined : parseAt(options.at)
  return withController(cli, log, false, async (controller, swarm) => {
    await controller.sync('rds restore')
    const jobs = [...controller.jobs.values()].map(({ job }) => job)
    const rejected = await rejectedSnapshots(config)
    if (options.service !== undefined) {
      const job = serviceJob(jobs, options.service, options.host)
      const service = controller.services.find((candidate) => candidate.name === job.service)!
      const deps = { ...swarm, lockDir: config.lockDir }
      const toNode = options.toNode === undefined ? undefined : findNode(nameNodes(await swarm.docker.listNodes()), options.toNode, '--to-node')
      await restoreService(deps, { job, service, snapshot: options.snapshot, at, includes: options.path, rejected, toNode: toNode && { nodeId: toNode.id, nodeName: toNode.name } }, log, cli.stop)
      return 0
    }
    const job = options.host === undefined ? undefined : jobOfHost(jobs, options.host)
    const repoPath = job?.backup?.repoPath ?? config.repoPath
    const choice = await snapshotChoice(config, options.snapshot, options.host)
    const chosen = await chooseSnapshot(swarm.resticFor(repoPath), choice, repoPath, job, options.folder, log)
    const nodes = nameNodes(await swarm.docker.listNodes())
    const request = { volume: options.toVolume!, toNode: options.toNode, includes: options.path, excludes: options.exclude, force: Boolean(options.force), delete: Boolean(options.delete) }
    await restoreToVolumeInSwarm(swarm, nodes, chosen, request, log, cli.stop)
    return 0
  })
}

/** The one job of a labelled service (of a service on several nodes, the one --host names). */
function serviceJob(jobs: SwarmJob[], service: string, host: string | undefined): SwarmJob {
  const ofService = jobs.filter((job) => job.service === service)
  if (ofService.length === 0) throw new ConfigError(`there is no service ${service} labelled rds.backup=true; rds jobs lists the services that are.`)
  const errored = ofService.find((job) => job.error)
  if (errored) throw new ConfigError(errored.error!)
  const chosen = host === undefined ? (ofService.length === 1 ? ofService[0] : undefined) : ofService.find((job) => job.name === host)
  if (!chosen) {
    throw new ConfigError(host === undefined ? `service ${service} has a job on each of its nodes (${ofService.map((job) => job.name).join(', ')}); name one with --host.` : `service ${service} has no job ${host}; its jobs are ${ofService.map((job) => job.name).join(', ')}.`)
  }
  return chosen
}
