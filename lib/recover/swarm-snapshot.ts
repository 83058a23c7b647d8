import type Docker from 'dockerode'
import type { Config } from '../config/environment.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { resolveSnapshot, type SnapshotChoice, type SnapshotInfo } from '../restic/snapshots.js'
import { readSwarm } from '../swarm/cluster.js'
import { discoverJobs, type SwarmJob } from '../swarm/discover.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { labelDefaults } from '../swarm/label-defaults.js'


/** The service a snapshot host names: `app_db`, or `app_db@node-2` for one node's data of a service on several. */
export const serviceOfHost = (host: string) => host.replace(/@[^@]*$/, '')

/** The labelled job whose snapshots a host names, if its service is still labelled. */
export const jobOfHost = (jobs: SwarmJob[], host: string) => jobs.find((job) => job.backup && (job.name === host || job.service === serviceOfHost(host)))

/**
 * The repository a host's snapshots are in: the one its service's rds.backup.repo label chose,
 * else REPO_PATH (a service no longer labelled, or a host of no service).
 */
export async function repoPathOfHost(docker: Docker, config: Config, host: string): Promise<string> {
  const { services, nodes } = await readSwarm(docker)
  return jobOfHost(discoverJobs(services, await labelDefaults(config), nodes), host)?.backup?.repoPath ?? config.repoPath
}

/** A snapshot to restore from, in its repository, and the folder of it that becomes a volume's root. */
export interface ChosenSnapshot {
  snapshot: SnapshotInfo
  repoPath: string
  folder: string
}

/**
 * The snapshot a choice names, and the folder of it that becomes a volume's root: the one given
 * (SNAPSHOT:FOLDER), else the snapshot's one path; a service's volumes are each a folder under
 * /volumes, so its one volume when it has one, else it must be named.
 */
export async function chooseSnapshot(restic: Restic, choice: SnapshotChoice, repoPath: string, job: SwarmJob | undefined, folder: string | undefined, log: Logger): Promise<ChosenSnapshot> {
  const snapshot = await resolveSnapshot(restic, choice, log)
  if (folder) return { snapshot, repoPath, folder }
  const [path, ...more] = snapshot.paths
  if (more.length > 0) throw new ConfigError(`snapshot ${snapshot.short_id} holds ${snapshot.paths.length} paths (${snapshot.paths.join(', ')}); name the one that becomes the volume's root as ${snapshot.short_id}:PATH.`)
  if (path !== VOLUMES_ROOT) return { snapshot, repoPath, folder: path! }
  const volumes = job?.backup?.volumes ?? []
  if (volumes.length === 1) return { snapshot, repoPath, folder: `${VOLUMES_ROOT}/${volumes[0]!.name}` }
  throw new ConfigError(`snapshot ${snapshot.short_id} holds a service's volumes, each a folder under ${VOLUMES_ROOT}; name the one to restore as ${snapshot.short_id}:${VOLUMES_ROOT}/NAME (rds ls ${snapshot.short_id} --path ${VOLUMES_ROOT} lists them).`)
}
