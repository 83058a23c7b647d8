import { isAbsolute } from 'node:path'
import { Cron } from 'croner'
import parseArgsStringToArgv from 'string-argv'
import { ConfigError } from '../errors.js'
import { isSpread, spreadSchedule } from './spread-schedule.js'

// Readers of one named setting, checked: each throws a ConfigError that names the setting (an
// environment variable, or a service's label) and says what to put there.

// Control characters would let a value add lines to the generated ssh config or split a log line.
const CONTROL = /[\u0000-\u001f\u007f]/
// restic's duration syntax for --keep-within and --retry-lock, e.g. 1y6m, 7d, 12h, 5m.
const RESTIC_DURATION = /^(?=\d)(\d+y)?(\d+m)?(\d+d)?(\d+h)?$/
export const LOCK_DURATION = /^(\d+(\.\d+)?(h|m|s|ms))+$/
// Our own timeouts: hours, minutes and seconds, e.g. 1h, 30m, 1h30m, 90s.
const TIMEOUT_DURATION = /^(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

// A repository as labels, rds-serve and the maintenance name it: a relative path of plain names.
const REPOSITORY_PATH = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/


export type Env = Record<string, string | undefined>

/** Whether `path` names a repository under the server's repositories, never out of them ("..", "/etc"). */
export function isRepositoryPath(path: string): boolean {
  return REPOSITORY_PATH.test(path) && !path.split('/').includes('..')
}

export function value(env: Env, name: string): string | undefined {
  const raw = env[name]
  if (raw === undefined) return undefined
  const trimmed = raw.trim()
  if (trimmed === '') return undefined
  if (CONTROL.test(trimmed)) {
    throw new ConfigError(`${name} contains a control character (such as a newline); remove it.`)
  }
  return trimmed
}

export function required(env: Env, name: string, hint: string): string {
  const found = value(env, name)
  if (found === undefined) throw new ConfigError(`${name} is not set; ${hint}.`)
  return found
}

export function absolutePath(env: Env, name: string, fallback: string): string {
  const path = value(env, name) ?? fallback
  if (!isAbsolute(path)) {
    throw new ConfigError(`${name} must be an absolute path, not ${JSON.stringify(path)}.`)
  }
  return path
}

export function port(env: Env, name: string, fallback: number): number {
  const raw = value(env, name)
  if (raw === undefined) return fallback
  const parsed = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!(parsed >= 1 && parsed <= 65535)) {
    throw new ConfigError(`${name} must be a port number from 1 to 65535, not ${JSON.stringify(raw)}.`)
  }
  return parsed
}

export function keepCount(env: Env, name: string): number | undefined {
  const raw = value(env, name)
  if (raw === undefined) return undefined
  if (!/^(-1|[1-9]\d*)$/.test(raw)) {
    throw new ConfigError(
      `${name} must be a whole number of snapshots to keep (or -1 for all), not ${JSON.stringify(raw)}.`,
    )
  }
  return Number(raw)
}

/** true, false, or undefined for anything that is neither (1/0, yes/no and on/off count too). */
export function parseFlag(raw: string): boolean | undefined {
  if (/^(1|true|yes|on)$/i.test(raw.trim())) return true
  if (/^(0|false|no|off)$/i.test(raw.trim())) return false
  return undefined
}

export function flag(env: Env, name: string): boolean {
  const raw = value(env, name)
  if (raw === undefined) return false
  const parsed = parseFlag(raw)
  if (parsed === undefined) throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(raw)}.`)
  return parsed
}

/** A duration such as "1h", "30m" or "90s", in milliseconds. */
export function timeoutDuration(env: Env, name: string, fallback: string): number {
  const raw = value(env, name) ?? fallback
  const match = TIMEOUT_DURATION.exec(raw)
  const ms = match ? ((Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0)) * 60 + Number(match[3] ?? 0)) * 1000 : 0
  if (ms <= 0) throw new ConfigError(`${name} must be a duration such as "1h", "30m" or "90s", not ${JSON.stringify(raw)}.`)
  return ms
}

/** A whole number from `min` to `max`. */
export function wholeNumber(env: Env, name: string, fallback: number, min: number, max: number, what: string): number {
  const raw = value(env, name)
  if (raw === undefined) return fallback
  const parsed = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!(parsed >= min && parsed <= max)) throw new ConfigError(`${name} must be ${what}, not ${JSON.stringify(raw)}.`)
  return parsed
}

/**
 * Whether every quote in an argument string is closed: string-argv, which splits it, reads an
 * unclosed quote as a plain character. Like string-argv, a backslash escapes nothing.
 */
function quotesBalanced(text: string): boolean {
  let open: string | undefined
  for (const char of text) {
    if (open === undefined && (char === '"' || char === "'")) open = char
    else if (char === open) open = undefined
  }
  return open === undefined
}

export function argumentList(env: Env, name: string): string[] {
  const raw = value(env, name)
  if (raw === undefined) return []
  if (!quotesBalanced(raw)) throw new ConfigError(`${name} has a quote that is never closed (${JSON.stringify(raw)}); close it, or remove it.`)
  return parseArgsStringToArgv(raw)
}

/**
 * Throws a ConfigError naming the variable or label when croner cannot parse the expression.
 * `spread`: a backup's schedule, where H fields (a time of the job's own) are allowed.
 */
export function checkCronExpression(name: string, expression: string, { spread = false } = {}): void {
  if (isSpread(expression) && !spread) {
    throw new ConfigError(`${name} ${JSON.stringify(expression)} has an H field, which only a backup's schedule takes (RUN_AT, rds.backup.run-at); write the time here.`)
  }
  try {
    new Cron(spreadSchedule(expression, name, name), { paused: true }).stop()
  } catch (error) {
    if (error instanceof ConfigError) throw error
    const reason = error instanceof Error ? error.message : String(error)
    throw new ConfigError(
      `${name} ${JSON.stringify(expression)} is not a valid cron expression (${reason}); ` +
        `use five or six fields, e.g. "0 3 * * *" for 03:00 every day.`,
    )
  }
}

/** The retention policy, as restic forget's --keep-* options. Absent means "not part of the policy". */
export interface Retention {
  last?: number
  hourly?: number
  daily?: number
  weekly?: number
  monthly?: number
  yearly?: number
  within?: string
  prune: boolean
}

/** The retention policy: `name` gives the setting each part is read from (KEEP_DAILY, or a label). */
export function readRetention(env: Env, name: (key: keyof Retention) => string): Retention {
  const within = value(env, name('within'))
  if (within !== undefined && !RESTIC_DURATION.test(within)) {
    throw new ConfigError(`${name('within')} must be a duration such as "30d" or "1y6m", not ${JSON.stringify(within)}.`)
  }
  return {
    last: keepCount(env, name('last')),
    hourly: keepCount(env, name('hourly')),
    daily: keepCount(env, name('daily')),
    weekly: keepCount(env, name('weekly')),
    monthly: keepCount(env, name('monthly')),
    yearly: keepCount(env, name('yearly')),
    within,
    prune: flag(env, name('prune')),
  }
}

/** What restic check --read-data-subset takes: a share ("5%"), a part ("1/7"), or an amount ("500M"). */
export function readDataSubset(env: Env, name: string): string | undefined {
  const raw = value(env, name)
  if (raw === undefined) return undefined
  if (!/^(\d+(\.\d+)?%|\d+\/\d+|\d+[KMGT]?)$/.test(raw)) {
    throw new ConfigError(`${name} must be a share of the data such as "5%", a part such as "1/7", or an amount such as "500M", not ${JSON.stringify(raw)}.`)
  }
  return raw
}
