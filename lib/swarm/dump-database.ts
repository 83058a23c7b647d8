import { posix } from 'node:path'
import { ConfigError } from '../errors.js'
import type { BackupVolume, LabelledService } from './cluster.js'

/** Where a job mounts the volume of a sqlite dump's database, writable: SQLite locks it there as the application does. */
export const DATABASE_ROOT = '/database'

/** The volume that holds a sqlite database, and the database's path in it. */
export interface DatabaseVolume {
  volume: BackupVolume
  /** Relative to the volume's root. */
  path: string
}

/**
 * The named volume holding the database file a service's containers see at `database` (the label
 * rds.backup.dump.database), by its mounts: the deepest one whose target holds the path. A job
 * reads the file there, on the node of the service's data, with the sqlite3 of rds's own image.
 */
export function databaseVolume(service: LabelledService, database: string, label: string, nameOf: (source: string) => string): DatabaseVolume {
  const path = posix.normalize(database)
  const holding = (service.mountPoints ?? [])
    .map((mount) => ({ ...mount, target: posix.normalize(mount.target).replace(/\/$/, '') }))
    .filter((mount) => path.startsWith(`${mount.target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0]
  if (!holding) {
    const mounts = (service.mountPoints ?? []).map((mount) => `${nameOf(mount.source)} at ${mount.target}`).join(', ') || 'no named volume'
    throw new ConfigError(`${label} is ${JSON.stringify(database)}, which is on no named volume of the service (it mounts ${mounts}); rds reads the database in its volume, so keep it on one.`)
  }
  return { volume: { name: nameOf(holding.source), source: holding.source }, path: path.slice(holding.target.length + 1) }
}
