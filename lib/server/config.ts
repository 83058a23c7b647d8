import type { Env } from '../config/environment.js'
import { absolutePath, checkCronExpression, value } from '../config/values.js'

/** What the server's maintenance reads from the server's environment. See "The server" in docs/server.md. */
export interface ServerConfig {
  /** MAINTENANCE_AT: when every repository of MAINTENANCE_FILE is maintained; no schedule when unset. */
  maintenanceAt?: string
  /** MAINTENANCE_FILE: the repositories, their password files and policies. */
  maintenanceFile: string
  /** Where the repositories are (/home/restic in the image). */
  repositoriesDir: string
  /** AUTHORIZED_KEYS_FILE: read to find the repositories append-only keys write to. */
  authorizedKeysFile: string
  statusFile?: string
  notify: { urls?: string; urlsFile?: string; on?: string }
  resticBinary: string
}

export function readServerConfig(env: Env): ServerConfig {
  const maintenanceAt = value(env, 'MAINTENANCE_AT')
  if (maintenanceAt !== undefined) checkCronExpression('MAINTENANCE_AT', maintenanceAt)
  return {
    maintenanceAt,
    maintenanceFile: absolutePath(env, 'MAINTENANCE_FILE', '/run/secrets/rds-maintenance'),
    repositoriesDir: absolutePath(env, 'REPOSITORIES_DIR', '/home/restic'),
    authorizedKeysFile: absolutePath(env, 'AUTHORIZED_KEYS_FILE', '/run/secrets/restic-ssh-authorized-keys'),
    statusFile: value(env, 'STATUS_FILE') === undefined ? undefined : absolutePath(env, 'STATUS_FILE', ''),
    notify: {
      urls: value(env, 'NOTIFY_URLS'),
      urlsFile: value(env, 'NOTIFY_URLS_FILE') === undefined ? undefined : absolutePath(env, 'NOTIFY_URLS_FILE', ''),
      on: value(env, 'NOTIFY_ON'),
    },
    resticBinary: value(env, 'RESTIC_BINARY') ?? 'restic',
  }
}
