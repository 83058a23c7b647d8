import { VOLUMES_ROOT } from './job-service.js'
import { DATABASE_ROOT } from './dump-database.js'
import type { SwarmJob } from './discover.js'
import type { ServiceBackup } from './labels.js'

/**
 * The environment of `rds backup` in a job: the controller's settings, then what the labels say,
 * and the snapshots of the job its guard rejected (which an append-only server may not tag).
 */
export function jobEnvironment(job: SwarmJob, controllerEnv: string[], rejected: string[] = []): string[] {
  const backup = job.backup!
  // STATUS_FILE empty: the controller records the run, and the job's container is thrown away.
  // CREATE_REPOSITORY=never: the controller decides about repositories (beforeRun), never a job.
  // A service's own bandwidth replaces the controller's LIMIT_UPLOAD or LIMIT_DOWNLOAD.
  const { upload, download } = backup.bandwidth ?? {}
  const own = [upload === undefined ? [] : [`LIMIT_UPLOAD=${upload}`], download === undefined ? [] : [`LIMIT_DOWNLOAD=${download}`]].flat()
  const replaced = own.map((variable) => variable.slice(0, variable.indexOf('=') + 1))
  const env = [...controllerEnv.filter((variable) => !replaced.some((name) => variable.startsWith(name))), ...own, `SNAPSHOT_HOST=${job.name}`, `REPO_PATH=${backup.repoPath}`, 'STATUS_FILE=', 'CREATE_REPOSITORY=never']
  // A job with a dump and no volume backs up only the dump: BACKUP_PATH unset says so.
  if (backup.volumes.length > 0) env.push(`BACKUP_PATH=${VOLUMES_ROOT}`)
  // Each volume on its own: one emptied beside others that grew can hide in the totals.
  if (backup.volumes.length > 1) env.push(`GUARD_FOLDERS=${backup.volumes.map((volume) => volume.name).join(',')}`)
  if (needsDocker(backup)) env.push(`SERVICE_NAME=${job.service}`)
  if (backup.dump) env.push(`DUMP_COMMAND=${backup.dump.preset ?? backup.dump.command}`, `DUMP_FILENAME=${backup.dump.filename}`)
  if (backup.databaseVolume) env.push(`DUMP_DATABASE=${DATABASE_ROOT}/${backup.databaseVolume.path}`)
  if (backup.stop === 'pause') env.push('STOP_DURING_BACKUP=pause')
  if (rejected.length > 0) env.push(`REJECTED_SNAPSHOTS=${rejected.join(',')}`)
  if (backup.hooks.pre) env.push(`PRE_HOOK=${backup.hooks.pre}`)
  if (backup.hooks.post) env.push(`POST_HOOK=${backup.hooks.post}`)
  // Each pattern in double quotes, as BACKUP_ARGS is split like a shell would (labels refuse a quote in one).
  if (backup.excludes.length > 0) env.push(`BACKUP_ARGS=${backup.excludes.map((pattern) => `--exclude "${pattern}"`).join(' ')}`)
  return env
}

/**
 * Whether a service's job execs into its containers (hooks, a dump, a pause), and so needs the
 * Docker socket; a sqlite dump is read in the database's volume, in no container.
 */
export const needsDocker = (backup: ServiceBackup) => Boolean(backup.hooks.pre || backup.hooks.post || (backup.dump && backup.dump.preset !== 'sqlite') || backup.stop === 'pause')
