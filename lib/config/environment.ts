import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { PRESET_NAMES, readDump, type Dump } from '../dumps/presets.js'
import { checkSwarmVariables } from './swarm-variables.js'
import { consoleSettings, type ConsoleSettings } from './console-settings.js'
import { copyToNames } from './repositories.js'
import { readBandwidth, readRunLimits, type Bandwidth, type RunLimits } from './run-limits.js'
import { absolutePath, argumentList, readDataSubset, checkCronExpression, port, readRetention, required, timeoutDuration, value, wholeNumber, LOCK_DURATION, type Env, type Retention } from './values.js'

export type { Env, Retention } from './values.js'

/** Everything the agent reads from its environment, checked. See docs/configuration.md. */
export interface Config {
  /**
   * MODE: "service" (the default) backs up the one volume at BACKUP_PATH; "swarm" makes `rds agent`
   * the controller that backs up every service of the Swarm labelled rds.backup=true.
   */
  mode: 'service' | 'swarm'
  /** JOBS_FILE: where the controller keeps its table of jobs, for `rds jobs`. */
  jobsFile?: string
  /**
   * RESTIC_REPOSITORY: any restic repository URL. When it is set, the SFTP settings below (SSH_*,
   * REPO_PATH) are not used, and are empty.
   */
  resticRepository?: string
  /**
   * REPOSITORIES_FILE: the repositories labels may choose by name (a secret: it holds the backends'
   * credentials); REPOSITORY_NAME, the one of them a single agent (or a job) writes to instead of the server.
   */
  repositories: { file?: string; name?: string }
  /**
   * SERVER_MODE: how the server lets this agent's key in. "sftp" (the default): SFTP, every
   * repository on the server. "confined": restic's REST protocol through rclone, this repository
   * only. "append-only": the same, and nothing can be deleted or overwritten, so retention runs on
   * the server. See "Append-only backups" in docs/server.md.
   */
  serverMode: ServerMode
  sshUser: string
  sshHost: string
  sshPort: number
  backupPath: string
  repoPath: string
  serviceName?: string
  preHook?: string
  postHook?: string
  runAt?: string
  sshPrivkeyFile: string
  sshKnownHostsFile: string
  passwordFile: string
  snapshotHost: string
  /** Whether SNAPSHOT_HOST or SERVICE_NAME gave snapshotHost (not the default): the agent's own host for "latest". */
  snapshotHostSet: boolean
  backupArgs: string[]
  retention: Retention
  retryLock?: string
  resticBinary: string
  statusFile?: string
  /** HOOK_TIMEOUT, in ms: a hook still running after it is stopped and fails the run. */
  hookTimeout: number
  /** STALL_TIMEOUT, in ms: a backup whose progress stands still this long is stopped and fails. */
  stallTimeout: number
  /** MIN_FILES and MAX_SHRINK (a percentage): what a backup must hold not to be taken for a lost volume. */
  minFiles: number
  /** REJECTED_SNAPSHOTS: snapshots the guard rejected that the repository may not say so of (append-only), set by the controller. */
  rejectedSnapshots: string[]
  maxShrink: number
  /** GUARD_FOLDERS: folders of BACKUP_PATH (a job's volumes) the guard checks each on its own, set by the controller. */
  guardFolders: string[]
  /** LOCK_DIR: where a job's run lock lives, so that two processes never run one job at once. */
  lockDir: string
  /** OVERDUE_AFTER, in ms: a job with no success for this long is OVERDUE (default: twice its schedule's longest gap). */
  overdueAfter?: number
  /**
   * NOTIFY_URLS, or the file NOTIFY_URLS_FILE names (a secret: the URLs hold passwords and tokens),
   * and NOTIFY_ON: where notifications go, and on which events.
   */
  notify: { urls?: string; urlsFile?: string; on?: string }
  /** CHECK_AT: when `restic check` runs (once per repository); CHECK_READ_DATA_SUBSET: what share of the data it reads. */
  checkAt?: string
  /** PRUNE_AT (MODE=swarm): when each repository whose services ask for prune is pruned, once for all of them. */
  pruneAt: string
  /** REHEARSE_AT (MODE=swarm): when every stack with a labelled service is rehearsed (rds rehearse), one after another. */
  rehearseAt?: string
  checkReadDataSubset?: string
  /** DRILL_AT: when the latest snapshot is restored as a drill; DRILL_COMMAND, run on it in DRILL_IMAGE. */
  drill: { at?: string; command?: string; image?: string }
  /** METRICS_PORT: where `rds agent` serves Prometheus metrics (GET /metrics); off when unset. */
  metricsPort?: number
  /** CONSOLE_PORT and CONSOLE_USERS_FILE: the web console of MODE=swarm; off when unset. */
  console?: ConsoleSettings
  /** COPY_TO and COPY_TO_PASSWORD_FILE: a second repository each backup is copied to. */
  copyTo?: { url: string; passwordFile: string }
  /** COPY_TO with MODE=swarm: the repositories of REPOSITORIES_FILE, by name, each service's backups are copied into (rds.backup.copy-to overrides it). */
  copyToRepositories?: string[]
  /** DUMP_COMMAND (a preset or a command) and DUMP_FILENAME: a dump streamed from SERVICE_NAME's container into its own snapshot. */
  dump?: Dump
  /** Whether BACKUP_PATH is backed up: always, but with DUMP_COMMAND only when BACKUP_PATH is set. */
  backupFiles: boolean
  /** STOP_DURING_BACKUP: "pause" pauses SERVICE_NAME's containers on this node while BACKUP_PATH is backed up. */
  stopDuringBackup: 'none' | 'pause'
  /** CREATE_REPOSITORY: "never" fails a backup into a repository that does not exist (the controller's jobs), "auto" creates it. */
  createRepository: 'auto' | 'never'
  /** MAX_RUN_TIME, in ms: how long a job of the controller may run before it is stopped (MODE=swarm). */
  maxRunTime: number
  /** MODE=swarm: MAX_JOBS_PER_NODE, MAX_JOBS_PER_REPOSITORY, BACKUP_WINDOW. */
  runLimits: RunLimits
  /** LIMIT_UPLOAD, LIMIT_DOWNLOAD: restic's bandwidth, in KiB/s. */
  bandwidth: Bandwidth
}

export type ServerMode = 'sftp' | 'confined' | 'append-only'
export const SERVER_MODES: readonly ServerMode[] = ['sftp', 'confined', 'append-only']

/** Why retention cannot run on an append-only agent, and where it runs instead. */
export const APPEND_ONLY_RETENTION =
  'the server refuses every deletion from an append-only agent: forget and prune run on the server instead (MAINTENANCE_AT and MAINTENANCE_FILE, see "Append-only backups" in docs/server.md)'

/** RETRY_LOCK's default with MODE=swarm. */
export const SWARM_RETRY_LOCK = '30m'

export const DEFAULTS = {
  sshUser: 'restic',
  sshPort: 2222,
  backupPath: '/backup',
  sshPrivkeyFile: '/run/secrets/restic-ssh-privkey',
  sshKnownHostsFile: '/run/secrets/restic-ssh-known-hosts',
  passwordFile: '/run/secrets/restic-repo-password',
  snapshotHost: 'restic-docker-swarm',
  resticBinary: 'restic',
  hookTimeout: '1h',
  stallTimeout: '15m',
  minFiles: 1,
  maxShrink: 50,
  maxRunTime: '24h',
  // After the night's backups at the default RUN_AT (03:00).
  pruneAt: '0 5 * * *',
} as const

function sshDestination(env: Env): { user: string; host: string } {
  const destination = required(
    env,
    'SSH_HOST',
    'set it to the SFTP server, e.g. "backup-server" or "restic@backup.example.com"',
  )
  const at = destination.lastIndexOf('@')
  const user = at === -1 ? DEFAULTS.sshUser : destination.slice(0, at)
  const host = destination.slice(at + 1)
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) {
    throw new ConfigError(`SSH_HOST has an invalid user name ${JSON.stringify(user)}; use "user@host".`)
  }
  if (!/^([A-Za-z0-9_][A-Za-z0-9_.-]*|[0-9A-Fa-f:.]+)$/.test(host)) {
    throw new ConfigError(`SSH_HOST has an invalid host name ${JSON.stringify(host)}; use "host" or "user@host".`)
  }
  return { user, host }
}

/** `elsewhere`: the variable that chose a repository not on the server, if one did. */
function readServerMode(env: Env, elsewhere: 'RESTIC_REPOSITORY' | 'REPOSITORY_NAME' | undefined): ServerMode {
  const mode = value(env, 'SERVER_MODE') ?? 'sftp'
  if (!(SERVER_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`SERVER_MODE must be "sftp" (the default), "confined" or "append-only", as the server's authorized keys say for this agent's key, not ${JSON.stringify(mode)}.`)
  }
  if (mode !== 'sftp' && elsewhere !== undefined) {
    throw new ConfigError(`SERVER_MODE=${mode} is for the server image's SSH server (SSH_HOST, REPO_PATH); unset it, or unset ${elsewhere}.`)
  }
  return mode as ServerMode
}

/** The variables of the retention policy, which an append-only agent must not have. */
export const RETENTION_VARIABLES = ['KEEP_LAST', 'KEEP_HOURLY', 'KEEP_DAILY', 'KEEP_WEEKLY', 'KEEP_MONTHLY', 'KEEP_YEARLY', 'KEEP_WITHIN', 'PRUNE']

/** An append-only agent has no retention: the first KEEP_* or PRUNE set is refused. */
function checkNoRetention(env: Env, serverMode: ServerMode): void {
  if (serverMode !== 'append-only') return
  const set = RETENTION_VARIABLES.find((name) => value(env, name) !== undefined)
  if (set !== undefined) throw new ConfigError(`${set} is set but SERVER_MODE=append-only: ${APPEND_ONLY_RETENTION}; unset ${set}.`)
}

function readStop(env: Env): Config['stopDuringBackup'] {
  const stop = value(env, 'STOP_DURING_BACKUP') ?? 'none'
  if (stop === 'none' || stop === 'pause') return stop
  if (stop === 'scale') {
    throw new ConfigError('STOP_DURING_BACKUP=scale needs a Swarm manager; use the label rds.backup.stop=scale with MODE=swarm, or STOP_DURING_BACKUP=pause.')
  }
  throw new ConfigError(`STOP_DURING_BACKUP must be "pause" (pause SERVICE_NAME's containers during the backup) or "none", not ${JSON.stringify(stop)}.`)
}

/** A comma-separated list of full snapshot IDs. */
function snapshotIds(env: Env, name: string): string[] {
  const ids = (value(env, name) ?? '').split(',').map((id) => id.trim()).filter(Boolean)
  const bad = ids.find((id) => !/^[0-9a-f]{64}$/.test(id))
  if (bad !== undefined) throw new ConfigError(`${name} must list full snapshot IDs (64 hexadecimal digits) separated by commas, not ${JSON.stringify(bad)}.`)
  return ids
}

function folderNames(env: Env, name: string): string[] {
  const folders = (value(env, name) ?? '').split(',').map((folder) => folder.trim()).filter(Boolean)
  const bad = folders.find((folder) => !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(folder))
  if (bad !== undefined) throw new ConfigError(`${name} must list names of folders directly in BACKUP_PATH, separated by commas, not ${JSON.stringify(bad)}.`)
  return folders
}

function readCreateRepository(env: Env): Config['createRepository'] {
  const create = value(env, 'CREATE_REPOSITORY') ?? 'auto'
  if (create === 'auto' || create === 'never') return create
  throw new ConfigError(`CREATE_REPOSITORY must be "auto" (create the repository if there is none and no snapshot was recorded there) or "never", not ${JSON.stringify(create)}.`)
}

/** REPOSITORIES_FILE and REPOSITORY_NAME, checked against each other and RESTIC_REPOSITORY. */
function readRepositorySettings(env: Env): Config['repositories'] {
  const file = value(env, 'REPOSITORIES_FILE') === undefined ? undefined : absolutePath(env, 'REPOSITORIES_FILE', '')
  const name = value(env, 'REPOSITORY_NAME')
  if (name === undefined) {
    if (file !== undefined && value(env, 'MODE') !== 'swarm') throw new ConfigError('REPOSITORIES_FILE is set but REPOSITORY_NAME is not; set REPOSITORY_NAME to the repository of it to back up into, or unset REPOSITORIES_FILE.')
    return { file }
  }
  if (file === undefined) throw new ConfigError(`REPOSITORY_NAME is ${JSON.stringify(name)} but REPOSITORIES_FILE is not set; set it to the file that lists the repository (a secret).`)
  if (value(env, 'RESTIC_REPOSITORY') !== undefined) throw new ConfigError('REPOSITORY_NAME and RESTIC_REPOSITORY are both set; keep one (REPOSITORY_NAME keeps the backend\'s credentials in REPOSITORIES_FILE).')
  if (value(env, 'COPY_TO') !== undefined) throw new ConfigError('COPY_TO is set with REPOSITORY_NAME: restic would hand the credentials of the repository to the copy\'s; unset COPY_TO.')
  return { file, name }
}

/** Reads and checks the agent's configuration; throws a ConfigError that names the bad variable. */
export function readConfig(env: Env): Config {
  const resticRepository = value(env, 'RESTIC_REPOSITORY')
  const repositories = readRepositorySettings(env)
  // Like RESTIC_REPOSITORY, a named repository is reached without the server's SSH settings.
  const elsewhere = resticRepository !== undefined ? 'RESTIC_REPOSITORY' : repositories.name !== undefined ? 'REPOSITORY_NAME' : undefined
  const serverMode = readServerMode(env, elsewhere)
  checkNoRetention(env, serverMode)
  const { user, host } = elsewhere === undefined ? sshDestination(env) : { user: '', host: '' }
  const serviceName = value(env, 'SERVICE_NAME')
  const preHook = value(env, 'PRE_HOOK')
  const postHook = value(env, 'POST_HOOK')
  for (const [name, hook] of [
    ['PRE_HOOK', preHook],
    ['POST_HOOK', postHook],
  ] as const) {
    if (hook !== undefined && serviceName === undefined) {
      throw new ConfigError(`${name} is set but SERVICE_NAME is not; set SERVICE_NAME to the Swarm service the hook runs in.`)
    }
  }
  const dumpCommand = value(env, 'DUMP_COMMAND')
  const dump =
    dumpCommand === undefined
      ? undefined
      : readDump(dumpCommand, value(env, 'DUMP_FILENAME'), value(env, 'DUMP_DATABASE'), { dump: 'DUMP_COMMAND', filename: 'DUMP_FILENAME', database: 'DUMP_DATABASE' })
  for (const name of ['DUMP_FILENAME', 'DUMP_DATABASE']) {
    if (dumpCommand === undefined && value(env, name) !== undefined) throw new ConfigError(`${name} is set but DUMP_COMMAND is not; set DUMP_COMMAND to the dump (${PRESET_NAMES} or a command).`)
  }
  const stopDuringBackup = readStop(env)
  for (const [name, set] of [
    // The sqlite preset reads the database's file where rds runs, in no container of a service.
    ['DUMP_COMMAND', dump !== undefined && dump.preset !== 'sqlite'],
    ['STOP_DURING_BACKUP=pause', stopDuringBackup === 'pause'],
  ] as const) {
    if (set && serviceName === undefined) throw new ConfigError(`${name} is set but SERVICE_NAME is not; set SERVICE_NAME to the Swarm service whose containers it runs in.`)
  }
  const runAt = value(env, 'RUN_AT')
  if (runAt !== undefined) checkCronExpression('RUN_AT', runAt, { spread: true })
  const checkAt = value(env, 'CHECK_AT')
  if (checkAt !== undefined) checkCronExpression('CHECK_AT', checkAt)
  const pruneAt = value(env, 'PRUNE_AT')
  if (pruneAt !== undefined) checkCronExpression('PRUNE_AT', pruneAt)
  const drillAt = value(env, 'DRILL_AT')
  if (drillAt !== undefined) checkCronExpression('DRILL_AT', drillAt)
  const rehearseAt = value(env, 'REHEARSE_AT')
  if (rehearseAt !== undefined) checkCronExpression('REHEARSE_AT', rehearseAt)

  const retryLock = value(env, 'RETRY_LOCK')
  if (retryLock !== undefined && !LOCK_DURATION.test(retryLock)) {
    throw new ConfigError(`RETRY_LOCK must be a duration such as "5m" or "30s", not ${JSON.stringify(retryLock)}.`)
  }
  const snapshotHost = value(env, 'SNAPSHOT_HOST') ?? serviceName ?? DEFAULTS.snapshotHost
  const copyTo = value(env, 'COPY_TO')
  const swarm = value(env, 'MODE') === 'swarm'
  if (copyTo !== undefined && !swarm && value(env, 'COPY_TO_PASSWORD_FILE') === undefined) {
    throw new ConfigError("COPY_TO is set but COPY_TO_PASSWORD_FILE is not; set it to the file holding the second repository's password.")
  }

  if (value(env, 'NOTIFY_URLS') !== undefined && value(env, 'NOTIFY_URLS_FILE') !== undefined) {
    throw new ConfigError('NOTIFY_URLS and NOTIFY_URLS_FILE are both set; keep one (NOTIFY_URLS_FILE, as a Swarm secret, keeps the URLs\' passwords out of the service\'s spec).')
  }
  if (value(env, 'METRICS_PORT') !== undefined && value(env, 'STATUS_FILE') === undefined) {
    throw new ConfigError('METRICS_PORT is set but STATUS_FILE is not; the metrics are read from STATUS_FILE: set it (the image sets /var/lib/rds/status.json).')
  }
  const mode = value(env, 'MODE') ?? 'service'
  if (mode !== 'service' && mode !== 'swarm') {
    throw new ConfigError(`MODE must be "service" (back up the volume at BACKUP_PATH) or "swarm" (back up every labelled service), not ${JSON.stringify(mode)}.`)
  }
  if (mode === 'swarm') checkSwarmVariables(env)
  if (mode !== 'swarm' && rehearseAt !== undefined) {
    throw new ConfigError('REHEARSE_AT is set but MODE is not swarm: a rehearsal deploys a copy of a whole stack, which only the controller of MODE=swarm can. Unset REHEARSE_AT.')
  }
  if (mode !== 'swarm' && value(env, 'PRUNE_AT') !== undefined) {
    throw new ConfigError('PRUNE_AT is set but MODE is not swarm: a single agent prunes after its own forget (PRUNE=true). Unset PRUNE_AT.')
  }
  if (mode !== 'swarm' && value(env, 'MAX_RUN_TIME') !== undefined) {
    throw new ConfigError('MAX_RUN_TIME is set but MODE is not swarm: it bounds the controller\'s jobs; a single agent\'s backup that stands still is stopped after STALL_TIMEOUT. Unset MAX_RUN_TIME.')
  }
  return {
    mode,
    jobsFile: value(env, 'JOBS_FILE') === undefined ? undefined : absolutePath(env, 'JOBS_FILE', ''),
    serverMode,
    sshUser: user,
    sshHost: host,
    sshPort: port(env, 'SSH_PORT', DEFAULTS.sshPort),
    backupPath: absolutePath(env, 'BACKUP_PATH', DEFAULTS.backupPath),
    repoPath:
      elsewhere === undefined
        ? required(
            env,
            'REPO_PATH',
            'set it to the repository\'s path on the SSH server, e.g. "myservice" (relative to the login directory) or "/home/restic/myservice"',
          )
        : '',
    resticRepository,
    repositories,
    serviceName,
    preHook,
    postHook,
    runAt,
    sshPrivkeyFile: absolutePath(env, 'SSH_PRIVKEY_FILE', DEFAULTS.sshPrivkeyFile),
    sshKnownHostsFile: absolutePath(env, 'SSH_KNOWN_HOSTS_FILE', DEFAULTS.sshKnownHostsFile),
    passwordFile: absolutePath(env, 'RESTIC_REPO_PASSWORD_FILE', DEFAULTS.passwordFile),
    snapshotHost,
    snapshotHostSet: value(env, 'SNAPSHOT_HOST') !== undefined || serviceName !== undefined,
    backupArgs: argumentList(env, 'BACKUP_ARGS'),
    retention: readRetention(env, (key) => (key === 'prune' ? 'PRUNE' : `KEEP_${key.toUpperCase()}`)),
    // With MODE=swarm, services share repositories: every command (a restore beside the
    // controller's retention, too) waits out another's lock rather than fail.
    retryLock: retryLock ?? (mode === 'swarm' ? SWARM_RETRY_LOCK : undefined),
    resticBinary: value(env, 'RESTIC_BINARY') ?? DEFAULTS.resticBinary,
    copyTo: copyTo === undefined || swarm ? undefined : { url: copyTo, passwordFile: absolutePath(env, 'COPY_TO_PASSWORD_FILE', '') },
    copyToRepositories: copyTo === undefined || !swarm ? undefined : copyToNames(copyTo, 'COPY_TO'),
    statusFile: value(env, 'STATUS_FILE') === undefined ? undefined : absolutePath(env, 'STATUS_FILE', ''),
    hookTimeout: timeoutDuration(env, 'HOOK_TIMEOUT', DEFAULTS.hookTimeout),
    stallTimeout: timeoutDuration(env, 'STALL_TIMEOUT', DEFAULTS.stallTimeout),
    rejectedSnapshots: snapshotIds(env, 'REJECTED_SNAPSHOTS'),
    minFiles: wholeNumber(env, 'MIN_FILES', DEFAULTS.minFiles, 0, Number.MAX_SAFE_INTEGER, 'a whole number of files (0 accepts an empty backup)'),
    maxShrink: wholeNumber(env, 'MAX_SHRINK', DEFAULTS.maxShrink, 0, 100, 'a percentage from 0 to 100 (100 accepts any shrink)'),
    guardFolders: folderNames(env, 'GUARD_FOLDERS'),
    lockDir: absolutePath(env, 'LOCK_DIR', join(tmpdir(), 'rds-locks')),
    overdueAfter: value(env, 'OVERDUE_AFTER') === undefined ? undefined : timeoutDuration(env, 'OVERDUE_AFTER', ''),
    notify: {
      urls: value(env, 'NOTIFY_URLS'),
      urlsFile: value(env, 'NOTIFY_URLS_FILE') === undefined ? undefined : absolutePath(env, 'NOTIFY_URLS_FILE', ''),
      on: value(env, 'NOTIFY_ON'),
    },
    checkAt,
    pruneAt: pruneAt ?? DEFAULTS.pruneAt,
    rehearseAt,
    drill: { at: drillAt, command: value(env, 'DRILL_COMMAND'), image: value(env, 'DRILL_IMAGE') },
    checkReadDataSubset: readDataSubset(env, 'CHECK_READ_DATA_SUBSET'),
    metricsPort: value(env, 'METRICS_PORT') === undefined ? undefined : port(env, 'METRICS_PORT', 0),
    console: consoleSettings(env, mode),
    dump,
    backupFiles: dump === undefined || value(env, 'BACKUP_PATH') !== undefined,
    stopDuringBackup,
    createRepository: readCreateRepository(env),
    maxRunTime: timeoutDuration(env, 'MAX_RUN_TIME', DEFAULTS.maxRunTime),
    runLimits: readRunLimits(env, mode),
    bandwidth: readBandwidth(env),
  }
}
