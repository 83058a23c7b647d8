import { constants } from 'node:fs'
import { access, mkdtemp, opendir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readConfig, type Config, type Env } from '../config/environment.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { namedRepository, serverRepository, urlRepository, type Repository } from './repository.js'
import { chosenRepository, readRepositories } from '../config/repositories.js'
import { checkSecretFiles, readSecretFile } from '../config/secret-files.js'
import { prepareSshTransport } from '../transport/ssh.js'

/**
 * What every command needs before it talks to the repository: the checked configuration, and a
 * private 0700 directory holding the ssh config (and a key copy), removed by `close`.
 */
export interface Workspace {
  config: Config
  repository: Repository
  close(): Promise<void>
}

export async function checkBackupPath(path: string, guardFolders: string[] = []): Promise<void> {
  let isDirectory: boolean
  try {
    isDirectory = (await stat(path)).isDirectory()
  } catch {
    throw new ConfigError(`BACKUP_PATH is ${path}, which does not exist; mount the volume to back up there or set BACKUP_PATH.`)
  }
  if (!isDirectory) throw new ConfigError(`BACKUP_PATH is ${path}, which is not a directory; point it at the mounted volume.`)
  try {
    await access(path, constants.R_OK | constants.X_OK)
    await (await opendir(path)).close()
  } catch {
    throw new ConfigError(`BACKUP_PATH is ${path}, which this user (uid ${process.getuid?.()}) cannot read; every backup would be empty: run the agent as root or make the volume readable.`)
  }
  // A name that is no folder there would never hold a file, and the guard would never look at it.
  for (const folder of guardFolders) {
    const found = await stat(join(path, folder)).catch(() => undefined)
    if (!found?.isDirectory()) throw new ConfigError(`GUARD_FOLDERS names ${folder}, which is not a folder in BACKUP_PATH (${path}); name the folders that are there, each a volume.`)
  }
}

export async function openWorkspace(env: Env, log: Logger): Promise<Workspace> {
  const config = readConfig(env)
  if (config.repositories.name !== undefined) {
    const named = chosenRepository(await readRepositories(config.repositories.file!, config.repositories.name), config.repositories.name, 'REPOSITORY_NAME')
    return { config, repository: namedRepository(named), close: async () => undefined }
  }
  if (config.resticRepository !== undefined) {
    await readSecretFile('RESTIC_REPO_PASSWORD_FILE', config.passwordFile, 'repository password')
    return { config, repository: urlRepository(config.resticRepository, config.passwordFile), close: async () => undefined }
  }
  await checkSecretFiles(config)
  const stateDir = await mkdtemp(join(tmpdir(), 'rds-'))
  const close = () => rm(stateDir, { recursive: true, force: true })
  try {
    const transport = await prepareSshTransport(config, stateDir, log)
    return { config, repository: serverRepository(config, transport), close }
  } catch (error) {
    await close()
    throw error
  }
}
