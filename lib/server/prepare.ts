import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { readSecretFile } from '../config/secret-files.js'
import type { Logger } from '../observe/log.js'
import { ConfigError } from '../errors.js'
import type { Reporter } from '../observe/reporter.js'
import { serverAuthorizedKeys } from './authorized-keys.js'
import type { ServerConfig } from './config.js'
import { readMaintenanceFile, type MaintainedRepository } from './maintenance-file.js'
import type { MaintenanceContext } from './maintenance.js'

/** The repositories under `dir` (a directory with a restic config file and a data directory), up to four levels down. */
export async function findRepositories(dir: string, depth = 4): Promise<string[]> {
  const found: string[] = []
  const visit = async (path: string, level: number): Promise<void> => {
    const entries = await readdir(path, { withFileTypes: true }).catch(() => [])
    if (entries.some((entry) => entry.name === 'config' && entry.isFile()) && entries.some((entry) => entry.name === 'data' && entry.isDirectory())) {
      found.push(relative(dir, path))
      return
    }
    if (level < depth) for (const entry of entries) if (entry.isDirectory()) await visit(join(path, entry.name), level + 1)
  }
  await visit(dir, 0)
  return found.sort()
}

/**
 * Everything the maintenance needs, checked: the repositories of MAINTENANCE_FILE (each password
 * file readable), and the user restic runs as; runs are reported to `reporter`. It warns of what would go unnoticed: a
 * repository on the disk that no line maintains, and an append-only key's repository whose policy
 * lacks keep-within, the only rule fake snapshots cannot push real ones out of.
 */
export async function prepareMaintenance(config: ServerConfig, reporter: Reporter, log: Logger): Promise<{ repositories: MaintainedRepository[]; context: Omit<MaintenanceContext, 'signal'> }> {
  const repositories = readMaintenanceFile(await readSecretFile('MAINTENANCE_FILE', config.maintenanceFile, 'list of repositories to maintain'), `MAINTENANCE_FILE (${config.maintenanceFile})`)
  if (repositories.length === 0) throw new ConfigError(`MAINTENANCE_FILE (${config.maintenanceFile}) names no repository; add a line for each, e.g. "db /run/secrets/db-repo-password keep-within=30d".`)
  for (const repository of repositories) await readSecretFile(`the password file of ${repository.name} in MAINTENANCE_FILE`, repository.passwordFile, 'repository password')
  const listed = new Set(repositories.map((repository) => repository.name))
  for (const name of await findRepositories(config.repositoriesDir)) {
    if (!listed.has(name)) log.warn(`maintenance: the repository ${name} is not in MAINTENANCE_FILE: it is never forgotten, pruned or checked here; add a line for it.`)
  }
  const keys = await readFile(config.authorizedKeysFile, 'utf8').then((text) => serverAuthorizedKeys(text, 'AUTHORIZED_KEYS_FILE').keys, () => [])
  for (const key of keys.filter((key) => key.mode === 'append-only')) {
    const repository = repositories.find((candidate) => candidate.name === key.repository)
    if (repository && repository.retention.within === undefined) {
      log.warn(
        `maintenance: ${repository.name} is written by an append-only key (${key.comment}) and its policy has no keep-within: whoever holds that key can add snapshots that push the real ones out of keep-last and keep-daily; add keep-within=30d (or longer).`,
      )
    }
  }
  const owner = await stat(config.repositoriesDir).catch(() => {
    throw new ConfigError(`the repositories' directory ${config.repositoriesDir} (REPOSITORIES_DIR) does not exist; mount the repositories' volume there.`)
  })
  // restic writes as the repositories' owner (restic, uid 1000, in the image), never as root.
  const user = process.getuid?.() === 0 && owner.uid !== 0 ? { uid: owner.uid, gid: owner.gid } : undefined
  return { repositories, context: { resticBinary: config.resticBinary, repositoriesDir: config.repositoriesDir, user, log, reporter } }
}
