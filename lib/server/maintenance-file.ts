import { isAbsolute } from 'node:path'
import type { Retention } from '../config/environment.js'
import { isRepositoryPath, readDataSubset, readRetention } from '../config/values.js'
import { ConfigError } from '../errors.js'

/** One repository the server maintains, as a line of MAINTENANCE_FILE gives it. */
export interface MaintainedRepository {
  /** As agents' REPO_PATH names it: "db", under the repositories' directory. */
  name: string
  passwordFile: string
  /** restic forget's --keep-* options; always followed by prune. Empty: nothing is forgotten. */
  retention: Retention
  /** check's --read-data-subset, if any. */
  readDataSubset?: string
}

const SETTINGS = new Set(['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly', 'keep-within', 'read-data-subset'])

/**
 * Reads MAINTENANCE_FILE: one repository per line, its password file (a Swarm secret), then its
 * policy as the labels write it, e.g.
 *
 *   db     /run/secrets/db-repo-password      keep-within=30d keep-monthly=12 read-data-subset=5%
 *
 * `#` starts a comment. A bad line is a ConfigError that names the line and the setting.
 */
export function readMaintenanceFile(text: string, source: string): MaintainedRepository[] {
  const repositories: MaintainedRepository[] = []
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim()
    if (line === '') return
    const where = `line ${index + 1} of ${source}`
    const [name = '', passwordFile = '', ...settings] = line.split(/\s+/)
    if (!isRepositoryPath(name)) throw new ConfigError(`${where} names the repository ${JSON.stringify(name)}; write it as agents' REPO_PATH does, such as "db" or "app/db".`)
    if (!isAbsolute(passwordFile)) throw new ConfigError(`${where} needs the repository's password file after its name, as an absolute path such as /run/secrets/${name.replaceAll('/', '-')}-password.`)
    if (repositories.some((repository) => repository.name === name)) throw new ConfigError(`${where} names the repository ${name} a second time; keep one line for it.`)
    const policy: Record<string, string> = {}
    for (const setting of settings) {
      const [key = '', value] = setting.split('=', 2)
      if (!SETTINGS.has(key) || value === undefined) {
        throw new ConfigError(`${where} has ${JSON.stringify(setting)}; a setting is keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly, keep-within or read-data-subset, with "=" and its value.`)
      }
      policy[`${where}: ${key}`] = value
    }
    repositories.push({
      name,
      passwordFile,
      retention: { ...readRetention(policy, (key) => `${where}: ${key === 'prune' ? 'prune' : `keep-${key}`}`), prune: true },
      readDataSubset: readDataSubset(policy, `${where}: read-data-subset`),
    })
  })
  return repositories
}
