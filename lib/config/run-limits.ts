import { ConfigError } from '../errors.js'
import { value, wholeNumber, type Env } from './values.js'

/** A daily window of local time (TZ) within which queued backups may start; it may span midnight. */
export interface BackupWindow {
  /** As written: "01:00-06:00". */
  text: string
  /** Minutes after midnight. */
  start: number
  end: number
}

/** How many of the controller's backups run at once, and when they may start (MODE=swarm). */
export interface RunLimits {
  /** MAX_JOBS_PER_NODE: at most this many backup jobs on one node at once. */
  perNode: number
  /** MAX_JOBS_PER_REPOSITORY: at most this many into one repository at once; undefined: no limit. */
  perRepository?: number
  /** BACKUP_WINDOW: scheduled backups start only within it; one still queued at its end fails. */
  window?: BackupWindow
}

/** restic's --limit-upload and --limit-download, in KiB/s: for every restic command rds runs. */
export interface Bandwidth {
  upload?: number
  download?: number
}

/** The most restic takes: about 10 GB/s, which no limit needs to reach. */
const MAX_KIB_PER_SECOND = 10_000_000

/** A bandwidth limit in KiB/s from a variable or label; undefined when it is not set. */
export function kibPerSecond(env: Env, name: string): number | undefined {
  if (value(env, name) === undefined) return undefined
  return wholeNumber(env, name, 0, 1, MAX_KIB_PER_SECOND, `a whole number of KiB/s from 1 to ${MAX_KIB_PER_SECOND} (1024 is 1 MiB/s)`)
}

/** LIMIT_UPLOAD and LIMIT_DOWNLOAD: restic's bandwidth in KiB/s, in both modes (a service's labels may set its own). */
export const readBandwidth = (env: Env): Bandwidth => ({ upload: kibPerSecond(env, 'LIMIT_UPLOAD'), download: kibPerSecond(env, 'LIMIT_DOWNLOAD') })

/** restic's global options for a bandwidth. */
export const bandwidthOptions = (bandwidth: Bandwidth | undefined): string[] => [
  ...(bandwidth?.upload === undefined ? [] : ['--limit-upload', String(bandwidth.upload)]),
  ...(bandwidth?.download === undefined ? [] : ['--limit-download', String(bandwidth.download)]),
]

const NAMES = ['MAX_JOBS_PER_NODE', 'MAX_JOBS_PER_REPOSITORY', 'BACKUP_WINDOW']
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/

export function readRunLimits(env: Env, mode: string): RunLimits {
  const single = NAMES.find((name) => value(env, name) !== undefined)
  if (mode !== 'swarm' && single) throw new ConfigError(`${single} is set but MODE is not swarm: it limits the controller's jobs; a single agent runs one backup at a time. Unset ${single}.`)
  const perNode = wholeNumber(env, 'MAX_JOBS_PER_NODE', 1, 1, 1000, 'a whole number of jobs from 1 to 1000')
  const perRepository = value(env, 'MAX_JOBS_PER_REPOSITORY') === undefined ? undefined : wholeNumber(env, 'MAX_JOBS_PER_REPOSITORY', 0, 1, 1000, 'a whole number of jobs from 1 to 1000')
  return { perNode, perRepository, window: readWindow(value(env, 'BACKUP_WINDOW')) }
}

function readWindow(raw: string | undefined): BackupWindow | undefined {
  if (raw === undefined) return undefined
  const [from, to, ...rest] = raw.split('-').map((part) => part.trim())
  const start = TIME.exec(from ?? '')
  const end = TIME.exec(to ?? '')
  if (!start || !end || rest.length > 0) throw new ConfigError(`BACKUP_WINDOW must be two times of day such as "01:00-06:00" (it may span midnight: "22:00-05:00"), not ${JSON.stringify(raw)}.`)
  const minutes = (match: RegExpExecArray) => Number(match[1]) * 60 + Number(match[2])
  if (minutes(start) === minutes(end)) throw new ConfigError(`BACKUP_WINDOW ${JSON.stringify(raw)} starts when it ends; leave BACKUP_WINDOW unset for no window.`)
  return { text: `${from}-${to}`, start: minutes(start), end: minutes(end) }
}

/** Whether `at` (local time) is within the window. */
export function inWindow(window: BackupWindow, at: Date): boolean {
  const minute = at.getHours() * 60 + at.getMinutes()
  return window.start < window.end ? minute >= window.start && minute < window.end : minute >= window.start || minute < window.end
}

/** The next moment, from `at` on, when the day's local time is `minute` (minutes after midnight). */
function nextAt(minute: number, at: Date): Date {
  const next = new Date(at)
  next.setHours(Math.floor(minute / 60), minute % 60, 0, 0)
  if (next <= at) next.setDate(next.getDate() + 1)
  return next
}

/** When a run due at `at` must have started: the end of the window it falls in, or else of the next one. */
export const windowEnd = (window: BackupWindow, at: Date): Date => nextAt(window.end, inWindow(window, at) ? at : nextAt(window.start, at))

/** When the window opens next (now, if `at` is within it). */
export const windowOpens = (window: BackupWindow, at: Date): Date => (inWindow(window, at) ? at : nextAt(window.start, at))
