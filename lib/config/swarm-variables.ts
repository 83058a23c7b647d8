import { ConfigError } from '../errors.js'
import { value, type Env } from './values.js'
import { isBackendVariable } from './repositories.js'

/**
 * With MODE=swarm, what only a single agent reads, refused rather than ignored: the controller's
 * jobs take their settings from labels and write to the stack's server, and restic's own variables
 * would reach the controller's restic but never a job's.
 */
const SINGLE_SERVICE_ONLY: Record<string, string> = {
  BACKUP_ARGS: 'a job\'s restic backup takes no extra arguments; use the labels (rds.backup.exclude, rds.backup.volumes)',
  COPY_TO_PASSWORD_FILE: 'COPY_TO names repositories of REPOSITORIES_FILE, whose sections give their password files',
  RESTIC_REPOSITORY: 'the controller\'s jobs write to the server at SSH_HOST (REPO_PATH, or the label rds.backup.repo)',
  PRE_HOOK: 'each service has its own: the label rds.backup.pre-hook',
  POST_HOOK: 'each service has its own: the label rds.backup.post-hook',
  DUMP_COMMAND: 'each service has its own: the label rds.backup.dump',
  DUMP_FILENAME: 'each service has its own: the label rds.backup.dump.filename',
  DUMP_DATABASE: 'each service has its own: the label rds.backup.dump.database',
  STOP_DURING_BACKUP: 'each service has its own: the label rds.backup.stop',
  REPOSITORY_NAME: 'the controller\'s default is the server at SSH_HOST; a service\'s label rds.backup.repo chooses a repository of REPOSITORIES_FILE by its name',
}
/** Variables named RESTIC_ that are rds's own, or that the image sets for the controller and its jobs alike (the cache). */
const OWN_RESTIC_VARIABLES = new Set(['RESTIC_REPO_PASSWORD_FILE', 'RESTIC_BINARY', 'RESTIC_REPOSITORY', 'RESTIC_CACHE_DIR'])

/** Throws a ConfigError naming the first single-agent variable set with MODE=swarm. */
export function checkSwarmVariables(env: Env): void {
  const single = Object.keys(SINGLE_SERVICE_ONLY).find((name) => value(env, name) !== undefined)
  if (single !== undefined) throw new ConfigError(`${single} is set but MODE=swarm: ${SINGLE_SERVICE_ONLY[single]}; unset ${single}.`)
  const backend = Object.keys(env).sort().find((name) => isBackendVariable(name) && !name.startsWith('RESTIC_') && value(env, name) !== undefined)
  if (backend !== undefined) throw new ConfigError(`${backend} is set but MODE=swarm: a backend's credentials would reach the controller's restic but not its jobs'; put them in REPOSITORIES_FILE, in the section of their repository, and unset ${backend}.`)
  const restic = Object.keys(env).sort().find((name) => name.startsWith('RESTIC_') && !OWN_RESTIC_VARIABLES.has(name) && value(env, name) !== undefined)
  if (restic !== undefined) throw new ConfigError(`${restic} is set but MODE=swarm: restic's own variables would reach the controller's restic but not its jobs'; unset ${restic}.`)
}
