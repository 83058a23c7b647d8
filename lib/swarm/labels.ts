import { APPEND_ONLY_RETENTION, type Env, type Retention, type ServerMode } from '../config/environment.js'
import { checkServerPath } from './repository-label.js'
import { checkCronExpression, flag, parseFlag, readRetention, timeoutDuration, value } from '../config/values.js'
import { ConfigError } from '../errors.js'
import { PRESET_NAMES, readDump, type Dump } from '../dumps/presets.js'
import type { BackupVolume, LabelledService } from './cluster.js'
import { databaseVolume, type DatabaseVolume } from './dump-database.js'
import { kibPerSecond, type Bandwidth } from '../config/run-limits.js'
import { copyToNames } from '../config/repositories.js'

/** What the controller's environment gives every service that does not say otherwise. */
export interface LabelDefaults {
  runAt?: string
  retention: Retention
  /** The repository's path on the server (REPO_PATH). */
  repoPath: string
  /** CHECK_AT: when each repository is checked. */
  checkAt?: string
  /** OVERDUE_AFTER, in ms. */
  overdueAfter?: number
  /** MAX_RUN_TIME, in ms. */
  maxRunTime: number
  /** DRILL_AT: when each service's latest snapshot is restored as a drill. */
  drillAt?: string
  /** SERVER_MODE: a key confined to REPO_PATH reaches no other repository, an append-only one deletes nothing. */
  serverMode?: ServerMode
  /** The names of REPOSITORIES_FILE's repositories, which rds.backup.repo may choose; undefined without the file. */
  repositories?: string[]
  /** COPY_TO: the repositories, by name, every service's backups are copied into. */
  copyTo?: string[]
  /** Why restic cannot copy from the repository of this key into the one of this name (the variable they disagree on), if it cannot. */
  copyClash?: (from: string, to: string) => string | undefined
}

/** A service's backup, as its labels and the controller's defaults describe it. */
export interface ServiceBackup {
  service: string
  schedule: string
  volumes: BackupVolume[]
  /**
   * The repository, by its key: a path on the stack's server, or the name of a repository of
   * REPOSITORIES_FILE (named: true). Names have no "/", and with the file a path on the server needs one.
   */
  repoPath: string
  named?: boolean
  hooks: { pre?: string; post?: string }
  /** Run in its container before an in-place restore stops it, and after it runs again (a failed post-hook rolls the restore back). */
  restoreHooks: { pre?: string; post?: string }
  /** Run in the service's copy by a rehearsal (rds rehearse), once it runs: its exit code says whether the copy works. */
  rehearseProbe?: string
  excludes: string[]
  retention: Retention
  /** When its repository is checked (rds.backup.check-at, else CHECK_AT), if ever. */
  checkAt?: string
  /** In ms: how long it may go without a success before it is OVERDUE (rds.backup.overdue-after, else OVERDUE_AFTER). */
  overdueAfter?: number
  /** Its restore drills: when (rds.backup.drill-at, else DRILL_AT), and the command that proves the restore usable. */
  drill?: { schedule?: string; command?: string }
  /** A dump streamed from its container into a snapshot of its own (rds.backup.dump, rds.backup.dump.filename). */
  dump?: Dump
  /** For the sqlite preset: the volume of its database (rds.backup.dump.database), which its jobs mount writable. */
  databaseVolume?: DatabaseVolume
  /** rds.backup.stop: the service is scaled to 0, or its containers paused, while its volumes are backed up. */
  stop?: 'pause' | 'scale'
  /** In ms: how long its job may run before it is stopped and the run failed (rds.backup.max-run-time, else MAX_RUN_TIME). */
  maxRunTime: number
  /** rds.backup.copy-to, else COPY_TO: the repositories of REPOSITORIES_FILE, by name, its accepted snapshots are copied into after each run. */
  copyTo?: string[]
  /** Destinations of COPY_TO that restic cannot copy into from its repository, with why: each copy there fails with that sentence (its backups go on). */
  copyRefused?: Record<string, string>
  /** rds.backup.limit-upload, rds.backup.limit-download: its job's restic bandwidth in KiB/s, instead of the controller's LIMIT_UPLOAD, LIMIT_DOWNLOAD. */
  bandwidth?: Bandwidth
}

export const LABEL = 'rds.backup'
const KEEP_KEYS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'within'] as const
export const KNOWN_LABELS = new Set([
  LABEL,
  ...['run-at', 'at', 'volumes', 'repo', 'pre-hook', 'post-hook', 'exclude', 'prune', 'check-at', 'overdue-after', 'max-run-time', 'drill-at', 'drill-command', 'dump', 'dump.filename', 'dump.database', 'stop', 'restore.pre-hook', 'restore.post-hook', 'rehearse.probe', 'limit-upload', 'limit-download', 'copy-to', ...KEEP_KEYS.map((key) => `keep-${key}`)].map((key) => `${LABEL}.${key}`),
])
// Labels that hold a command, which may hold a password inline: their values are never quoted in an error.
const COMMAND_LABELS = new Set(['pre-hook', 'post-hook', 'dump', 'drill-command', 'restore.pre-hook', 'restore.post-hook', 'rehearse.probe'].map((key) => `${LABEL}.${key}`))
// A path under the server's login directory: no absolute path, no "..", nothing a shell or ssh would read.

/** The service's rds.backup labels from both places; a key set to two different values is an error. */
function mergedLabels(service: LabelledService): Env {
  const merged: Env = {}
  for (const [place, labels] of [
    ['deploy.labels', service.serviceLabels],
    ['labels', service.containerLabels],
  ] as const) {
    for (const [key, raw] of Object.entries(labels)) {
      if (key !== LABEL && !key.startsWith(`${LABEL}.`)) continue
      const earlier = merged[key]
      if (earlier !== undefined && earlier.trim() !== raw.trim()) {
        // Quoted only where a known label holds no command: a mistyped hook label may hold a password too.
        const quoted = KNOWN_LABELS.has(key) && !COMMAND_LABELS.has(key)
        const values = quoted ? `${JSON.stringify(earlier)} in deploy.labels but ${JSON.stringify(raw)} in ${place}` : `set to one value in deploy.labels and another in ${place}`
        throw new ConfigError(`${key} is ${values}; set it in one place.`)
      }
      merged[key] = raw
    }
  }
  return merged
}

/** The stack file's name for a volume: the node's name without the stack's prefix. */
function stackFileName(service: LabelledService, source: string): string {
  const prefix = service.stack ? `${service.stack}_` : ''
  return prefix && source.startsWith(prefix) ? source.slice(prefix.length) : source
}

/**
 * The volumes to back up: those rds.backup.volumes names, else all the service mounts. With a dump,
 * only those it names: a running database's files are no backup, and its dump is.
 */
function chosenVolumes(service: LabelledService, labels: Env, dump: boolean): BackupVolume[] {
  // Sorted: the Docker CLI reorders a service's mounts when it updates it.
  const mounted = service.volumes.map((source) => ({ name: stackFileName(service, source), source })).sort((a, b) => a.name.localeCompare(b.name))
  const listed = value(labels, `${LABEL}.volumes`)
  if (listed === undefined && dump) return []
  if (listed === undefined) {
    if (mounted.length === 0) throw new ConfigError(`${LABEL} is true but the service mounts no named volume; mount one, or remove the label.`)
    return mounted
  }
  const names = listed.split(',').map((name) => name.trim()).filter(Boolean)
  if (names.length === 0) throw new ConfigError(`${LABEL}.volumes is empty; name the volumes to back up, separated by commas, or remove the label for all of them.`)
  return names.map((name) => {
    const found = mounted.find((volume) => volume.name === name || volume.source === name)
    if (!found) {
      const mounts = mounted.map((volume) => volume.name).join(', ') || 'no named volume'
      throw new ConfigError(`${LABEL}.volumes names ${JSON.stringify(name)}, which the service does not mount (it mounts ${mounts}); a service can only back up its own volumes.`)
    }
    return found
  })
}

function schedule(labels: Env, defaults: LabelDefaults): string {
  const runAt = value(labels, `${LABEL}.run-at`)
  const at = value(labels, `${LABEL}.at`)
  if (runAt !== undefined && at !== undefined && runAt !== at) {
    throw new ConfigError(`${LABEL}.run-at and ${LABEL}.at (its older name) are both set, to different schedules; keep one.`)
  }
  const name = runAt !== undefined ? `${LABEL}.run-at` : `${LABEL}.at`
  const chosen = runAt ?? at
  if (chosen !== undefined) {
    checkCronExpression(name, chosen, { spread: true })
    return chosen
  }
  if (defaults.runAt === undefined) {
    throw new ConfigError(`${LABEL}.run-at is not set and the agent has no RUN_AT; set the label to a cron expression such as "0 3 * * *", or RUN_AT on the agent for every service.`)
  }
  return defaults.runAt
}

function drill(labels: Env, defaults: LabelDefaults): ServiceBackup['drill'] {
  const schedule = value(labels, `${LABEL}.drill-at`)
  if (schedule !== undefined) checkCronExpression(`${LABEL}.drill-at`, schedule)
  const command = value(labels, `${LABEL}.drill-command`)
  const chosen = schedule ?? defaults.drillAt
  return chosen === undefined && command === undefined ? undefined : { schedule: chosen, command }
}

function dump(labels: Env): Dump | undefined {
  const chosen = value(labels, `${LABEL}.dump`)
  const filename = value(labels, `${LABEL}.dump.filename`)
  const database = value(labels, `${LABEL}.dump.database`)
  if (chosen === undefined) {
    const set = filename !== undefined ? 'filename' : database !== undefined ? 'database' : undefined
    if (set !== undefined) throw new ConfigError(`${LABEL}.dump.${set} is set but ${LABEL}.dump is not; set ${LABEL}.dump to ${PRESET_NAMES} or a command.`)
    return undefined
  }
  return readDump(chosen, filename, database, { dump: `${LABEL}.dump`, filename: `${LABEL}.dump.filename`, database: `${LABEL}.dump.database` })
}

/** rds.backup.stop, checked against what can be stopped, and against what must keep running. */
function stop(service: LabelledService, labels: Env, backup: { dump?: Dump; volumes: BackupVolume[]; hooks: { pre?: string; post?: string } }): ServiceBackup['stop'] {
  const chosen = value(labels, `${LABEL}.stop`) ?? 'none'
  if (chosen !== 'none' && chosen !== 'pause' && chosen !== 'scale') {
    throw new ConfigError(`${LABEL}.stop must be "scale" (scale the service to 0 during the backup), "pause" (pause its containers) or "none", not ${JSON.stringify(chosen)}.`)
  }
  if (chosen === 'none') return undefined
  if (backup.volumes.length === 0) {
    throw new ConfigError(`${LABEL}.stop=${chosen} stops the service while its volumes are backed up, but with ${LABEL}.dump only the dump is; name the volumes in ${LABEL}.volumes, or remove ${LABEL}.stop.`)
  }
  if (chosen === 'scale') {
    if (service.global) throw new ConfigError(`${LABEL}.stop=scale cannot stop a global service (Swarm cannot scale one); use ${LABEL}.stop=pause.`)
    const needsContainer = backup.dump && backup.dump.preset !== 'sqlite' ? `${LABEL}.dump` : backup.hooks.pre ? `${LABEL}.pre-hook` : backup.hooks.post ? `${LABEL}.post-hook` : undefined
    if (needsContainer) {
      throw new ConfigError(`${LABEL}.stop=scale leaves no container to run ${needsContainer} in; use ${LABEL}.stop=pause (which runs it before the pause), or remove one of them.`)
    }
    const local = backup.volumes.find((volume) => !service.sharedVolumes?.includes(volume.source))
    if (local && !service.pinned) {
      throw new ConfigError(
        `${LABEL}.stop=scale scales the service to 0 and back, and Swarm may then start it on another node, with a new, empty ${local.source}: ` +
          `pin it to its node (deploy.placement.constraints: [node.hostname == NODE]), or use ${LABEL}.stop=pause.`,
      )
    }
  }
  return chosen
}

function checkAt(labels: Env, defaults: LabelDefaults): string | undefined {
  const own = value(labels, `${LABEL}.check-at`)
  if (own !== undefined) checkCronExpression(`${LABEL}.check-at`, own)
  return own ?? defaults.checkAt
}

/** A service's keep-* labels make its whole policy; without any, the agent's KEEP_* apply. */
function retention(labels: Env, defaults: LabelDefaults, named: boolean): Retention {
  // The server's append-only key has no say in a repository of REPOSITORIES_FILE: the controller's retention runs there.
  if (defaults.serverMode === 'append-only' && !named) {
    const set = [...KEEP_KEYS.map((key) => `keep-${key}`), 'prune'].map((key) => `${LABEL}.${key}`).find((name) => value(labels, name) !== undefined)
    if (set !== undefined) throw new ConfigError(`${set} is set but the agent has SERVER_MODE=append-only: ${APPEND_ONLY_RETENTION}; remove the label.`)
  }
  const own = readRetention(labels, (key) => `${LABEL}.${key === 'prune' ? 'prune' : `keep-${key}`}`)
  const hasOwnPolicy = KEEP_KEYS.some((key) => own[key] !== undefined)
  const prune = value(labels, `${LABEL}.prune`) === undefined ? defaults.retention.prune : own.prune
  return hasOwnPolicy ? { ...own, prune } : { ...defaults.retention, prune }
}

function readLabels(service: LabelledService, defaults: LabelDefaults): ServiceBackup | undefined {
  const labels = mergedLabels(service)
  if (!flag(labels, LABEL)) return undefined
  const unknown = Object.keys(labels).filter((key) => !KNOWN_LABELS.has(key))
  if (unknown.length > 0) throw new ConfigError(`${unknown[0]} is not a label rds knows; see docs/labels.md for the names.`)
  const repo = value(labels, `${LABEL}.repo`)
  const named = repo !== undefined && (defaults.repositories ?? []).includes(repo)
  if (repo !== undefined && !named) checkServerPath(`${LABEL}.repo`, repo, defaults)
  const excludes = (value(labels, `${LABEL}.exclude`) ?? '').split(',').map((pattern) => pattern.trim()).filter(Boolean)
  const quoted = excludes.find((pattern) => /["\\]/.test(pattern))
  if (quoted !== undefined) throw new ConfigError(`${LABEL}.exclude has a pattern with a quote or backslash (${JSON.stringify(quoted)}); use a ? in its place.`)
  const chosenDump = dump(labels)
  const volumes = chosenVolumes(service, labels, chosenDump !== undefined)
  const hooks = { pre: value(labels, `${LABEL}.pre-hook`), post: value(labels, `${LABEL}.post-hook`) }
  return {
    service: service.name,
    schedule: schedule(labels, defaults),
    volumes,
    repoPath: repo ?? defaults.repoPath,
    ...(named ? { named } : {}),
    hooks,
    restoreHooks: { pre: value(labels, `${LABEL}.restore.pre-hook`), post: value(labels, `${LABEL}.restore.post-hook`) },
    rehearseProbe: value(labels, `${LABEL}.rehearse.probe`),
    dump: chosenDump,
    ...(chosenDump?.database === undefined ? {} : { databaseVolume: databaseVolume(service, chosenDump.database, `${LABEL}.dump.database`, (source) => stackFileName(service, source)) }),
    stop: stop(service, labels, { dump: chosenDump, volumes, hooks }),
    excludes,
    retention: retention(labels, defaults, named),
    checkAt: checkAt(labels, defaults),
    overdueAfter: value(labels, `${LABEL}.overdue-after`) === undefined ? defaults.overdueAfter : timeoutDuration(labels, `${LABEL}.overdue-after`, ''),
    drill: drill(labels, defaults),
    maxRunTime: value(labels, `${LABEL}.max-run-time`) === undefined ? defaults.maxRunTime : timeoutDuration(labels, `${LABEL}.max-run-time`, ''),
    bandwidth: bandwidth(labels),
    ...copyTo(labels, defaults, repo ?? defaults.repoPath),
  }
}

/**
 * rds.backup.copy-to, else COPY_TO: each one a repository REPOSITORIES_FILE lists, other than the
 * service's, that restic can copy into from it. The label's mistakes are label errors; COPY_TO's
 * default skips the service's own repository, and a pair restic cannot copy between fails each copy
 * with its sentence, so that a default never stops a service's backups.
 */
function copyTo(labels: Env, defaults: LabelDefaults, repoPath: string): Pick<ServiceBackup, 'copyTo' | 'copyRefused'> {
  const own = value(labels, `${LABEL}.copy-to`)
  const by = own === undefined ? 'COPY_TO' : `${LABEL}.copy-to`
  const names = own === undefined ? defaults.copyTo?.filter((name) => name !== repoPath) : copyToNames(own, `${LABEL}.copy-to`)
  if (!names?.length) return {}
  const refused: Record<string, string> = {}
  for (const name of names) {
    if (!defaults.repositories?.includes(name)) {
      const listed = defaults.repositories ? `REPOSITORIES_FILE does not list (it lists ${defaults.repositories.join(', ') || 'none'})` : 'no REPOSITORIES_FILE of the controller lists'
      throw new ConfigError(`${by} names ${name}, which ${listed}; write one of its names, or add [${name}] to it.`)
    }
    if (name === repoPath) throw new ConfigError(`${by} names ${name}, the service's own repository; a copy goes into another one: name another, or set ${LABEL}.copy-to to none.`)
    const clash = defaults.copyClash?.(repoPath, name)
    if (!clash) continue
    const why = `${by} names ${name}, which sets ${clash} otherwise than ${repoPath}, the service's repository, and restic reads one for both repositories of a copy; make them agree in REPOSITORIES_FILE, or copy into another repository`
    if (own !== undefined) throw new ConfigError(`${why}.`)
    refused[name] = `${why} (or set ${LABEL}.copy-to on this service)`
  }
  return { copyTo: names, ...(Object.keys(refused).length > 0 ? { copyRefused: refused } : {}) }
}

/** rds.backup.limit-upload and limit-download; undefined when neither is set (the controller's LIMIT_* apply). */
function bandwidth(labels: Env): Bandwidth | undefined {
  const upload = kibPerSecond(labels, `${LABEL}.limit-upload`)
  const download = kibPerSecond(labels, `${LABEL}.limit-download`)
  return upload === undefined && download === undefined ? undefined : { upload, download }
}

/**
 * Reads a service's backup from its labels: undefined when it has not opted in (rds.backup=true).
 * A bad label throws a ConfigError whose one sentence names the service, the label and the value.
 */
export function serviceBackup(service: LabelledService, defaults: LabelDefaults): ServiceBackup | undefined {
  try {
    return readLabels(service, defaults)
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`service ${service.name}: label ${error.message}`)
    throw error
  }
}

/** A service that says rds.backup=false: it is left out on purpose, which `rds coverage` shows. */
export function optsOut(service: LabelledService): boolean {
  return [service.serviceLabels[LABEL], service.containerLabels[LABEL]].some((raw) => raw !== undefined && parseFlag(raw) === false)
}
