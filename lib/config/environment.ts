import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { Cron } from 'croner'
import parseArgsStringToArgv from 'string-argv'
import { ConfigError } from '../errors.js'

export type Env = Record<string, string | undefined>

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

/** Everything the agent reads from its environment, checked. See the README's configuration table. */
export interface Config {
  /**
   * RESTIC_REPOSITORY: any restic repository URL. When it is set, the SFTP settings below (SSH_*,
   * REPO_PATH) are not used, and are empty.
   */
  resticRepository?: string
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
  maxShrink: number
  /** LOCK_DIR: where a job's run lock lives, so that two processes never run one job at once. */
  lockDir: string
  /** COPY_TO and COPY_TO_PASSWORD_FILE: a second repository each backup is copied to. */
  copyTo?: { url: string; passwordFile: string }
}

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
} as const

// Control characters would let a value add lines to the generated ssh config or split a log line.
const CONTROL = /[\u0000-\u001f\u007f]/
// restic's duration syntax for --keep-within and --retry-lock, e.g. 1y6m, 7d, 12h, 5m.
const RESTIC_DURATION = /^(?=\d)(\d+y)?(\d+m)?(\d+d)?(\d+h)?$/
const LOCK_DURATION = /^(\d+(\.\d+)?(h|m|s|ms))+$/
// Our own timeouts: hours, minutes and seconds, e.g. 1h, 30m, 1h30m, 90s.
const TIMEOUT_DURATION = /^(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

function value(env: Env, name: string): string | undefined {
  const raw = env[name]
  if (raw === undefined) return undefined
  const trimmed = raw.trim()
  if (trimmed === '') return undefined
  if (CONTROL.test(trimmed)) {
    throw new ConfigError(`${name} contains a control character (such as a newline); remove it.`)
  }
  return trimmed
}

function required(env: Env, name: string, hint: string): string {
  const found = value(env, name)
  if (found === undefined) throw new ConfigError(`${name} is not set; ${hint}.`)
  return found
}

function absolutePath(env: Env, name: string, fallback: string): string {
  const path = value(env, name) ?? fallback
  if (!isAbsolute(path)) {
    throw new ConfigError(`${name} must be an absolute path, not ${JSON.stringify(path)}.`)
  }
  return path
}

function port(env: Env, name: string, fallback: number): number {
  const raw = value(env, name)
  if (raw === undefined) return fallback
  const parsed = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!(parsed >= 1 && parsed <= 65535)) {
    throw new ConfigError(`${name} must be a port number from 1 to 65535, not ${JSON.stringify(raw)}.`)
  }
  return parsed
}

function keepCount(env: Env, name: string): number | undefined {
  const raw = value(env, name)
  if (raw === undefined) return undefined
  if (!/^(-1|[1-9]\d*)$/.test(raw)) {
    throw new ConfigError(
      `${name} must be a whole number of snapshots to keep (or -1 for all), not ${JSON.stringify(raw)}.`,
    )
  }
  return Number(raw)
}

function flag(env: Env, name: string): boolean {
  const raw = value(env, name)
  if (raw === undefined) return false
  if (/^(1|true|yes|on)$/i.test(raw)) return true
  if (/^(0|false|no|off)$/i.test(raw)) return false
  throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(raw)}.`)
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
function wholeNumber(env: Env, name: string, fallback: number, min: number, max: number, what: string): number {
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

/** Throws a ConfigError naming RUN_AT when croner cannot parse the expression. */
export function checkCronExpression(name: string, expression: string): void {
  try {
    new Cron(expression, { paused: true }).stop()
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new ConfigError(
      `${name} ${JSON.stringify(expression)} is not a valid cron expression (${reason}); ` +
        `use five or six fields, e.g. "0 3 * * *" for 03:00 every day.`,
    )
  }
}

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

/** Reads and checks the agent's configuration; throws a ConfigError that names the bad variable. */
export function readConfig(env: Env): Config {
  const resticRepository = value(env, 'RESTIC_REPOSITORY')
  const { user, host } = resticRepository === undefined ? sshDestination(env) : { user: '', host: '' }
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
  const runAt = value(env, 'RUN_AT')
  if (runAt !== undefined) checkCronExpression('RUN_AT', runAt)

  const within = value(env, 'KEEP_WITHIN')
  if (within !== undefined && !RESTIC_DURATION.test(within)) {
    throw new ConfigError(`KEEP_WITHIN must be a duration such as "30d" or "1y6m", not ${JSON.stringify(within)}.`)
  }
  const retryLock = value(env, 'RETRY_LOCK')
  if (retryLock !== undefined && !LOCK_DURATION.test(retryLock)) {
    throw new ConfigError(`RETRY_LOCK must be a duration such as "5m" or "30s", not ${JSON.stringify(retryLock)}.`)
  }
  const snapshotHost = value(env, 'SNAPSHOT_HOST') ?? serviceName ?? DEFAULTS.snapshotHost
  const copyTo = value(env, 'COPY_TO')
  if (copyTo !== undefined && value(env, 'COPY_TO_PASSWORD_FILE') === undefined) {
    throw new ConfigError("COPY_TO is set but COPY_TO_PASSWORD_FILE is not; set it to the file holding the second repository's password.")
  }

  return {
    sshUser: user,
    sshHost: host,
    sshPort: port(env, 'SSH_PORT', DEFAULTS.sshPort),
    backupPath: absolutePath(env, 'BACKUP_PATH', DEFAULTS.backupPath),
    repoPath:
      resticRepository === undefined
        ? required(
            env,
            'REPO_PATH',
            'set it to the repository\'s path on the SSH server, e.g. "myservice" (relative to the login directory) or "/home/restic/myservice"',
          )
        : '',
    resticRepository,
    serviceName,
    preHook,
    postHook,
    runAt,
    sshPrivkeyFile: absolutePath(env, 'SSH_PRIVKEY_FILE', DEFAULTS.sshPrivkeyFile),
    sshKnownHostsFile: absolutePath(env, 'SSH_KNOWN_HOSTS_FILE', DEFAULTS.sshKnownHostsFile),
    passwordFile: absolutePath(env, 'RESTIC_REPO_PASSWORD_FILE', DEFAULTS.passwordFile),
    snapshotHost,
    backupArgs: argumentList(env, 'BACKUP_ARGS'),
    retention: {
      last: keepCount(env, 'KEEP_LAST'),
      hourly: keepCount(env, 'KEEP_HOURLY'),
      daily: keepCount(env, 'KEEP_DAILY'),
      weekly: keepCount(env, 'KEEP_WEEKLY'),
      monthly: keepCount(env, 'KEEP_MONTHLY'),
      yearly: keepCount(env, 'KEEP_YEARLY'),
      within,
      prune: flag(env, 'PRUNE'),
    },
    retryLock,
    resticBinary: value(env, 'RESTIC_BINARY') ?? DEFAULTS.resticBinary,
    copyTo: copyTo === undefined ? undefined : { url: copyTo, passwordFile: absolutePath(env, 'COPY_TO_PASSWORD_FILE', '') },
    statusFile: value(env, 'STATUS_FILE') === undefined ? undefined : absolutePath(env, 'STATUS_FILE', ''),
    hookTimeout: timeoutDuration(env, 'HOOK_TIMEOUT', DEFAULTS.hookTimeout),
    stallTimeout: timeoutDuration(env, 'STALL_TIMEOUT', DEFAULTS.stallTimeout),
    minFiles: wholeNumber(env, 'MIN_FILES', DEFAULTS.minFiles, 0, Number.MAX_SAFE_INTEGER, 'a whole number of files (0 accepts an empty backup)'),
    maxShrink: wholeNumber(env, 'MAX_SHRINK', DEFAULTS.maxShrink, 0, 100, 'a percentage from 0 to 100 (100 accepts any shrink)'),
    lockDir: absolutePath(env, 'LOCK_DIR', join(tmpdir(), 'rds-locks')),
  }
}
