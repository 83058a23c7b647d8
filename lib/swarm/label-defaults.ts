import type { Config } from '../config/environment.js'
import { chosenRepository, readRepositories, type NamedRepository } from '../config/repositories.js'
import { ConfigError } from '../errors.js'
import { copyClash } from '../restic/copy.js'
import { namedRepository } from '../restic/repository.js'
import type { LabelDefaults } from './labels.js'

/** The names labels may choose; one that is also REPO_PATH would make the default repository two places at once. */
function repositoryNames(repositories: Map<string, unknown>, repoPath: string): string[] {
  if (repositories.has(repoPath)) throw new ConfigError(`REPOSITORIES_FILE lists a repository named ${repoPath}, which is also REPO_PATH, the default repository on the server; rename the section.`)
  return [...repositories.keys()]
}

/** COPY_TO's names, each one REPOSITORIES_FILE lists. */
function copyTo(config: Config, repositories: Map<string, NamedRepository> | undefined): string[] | undefined {
  const names = config.copyToRepositories
  if (names === undefined) return undefined
  if (!repositories) throw new ConfigError('COPY_TO is set but REPOSITORIES_FILE is not: with MODE=swarm copies go into repositories of REPOSITORIES_FILE, by name; set REPOSITORIES_FILE, or unset COPY_TO.')
  for (const name of names) chosenRepository(repositories, name, 'COPY_TO')
  return names
}

/**
 * What the controller's environment gives every labelled service that does not say otherwise, with
 * the names of REPOSITORIES_FILE (read again each time: every reader of labels must know them, or a
 * name would be taken for a path on the server).
 */
export async function labelDefaults(config: Config): Promise<LabelDefaults> {
  const repositories = config.repositories.file === undefined ? undefined : await readRepositories(config.repositories.file)
  return {
    repositories: repositories && repositoryNames(repositories, config.repoPath),
    copyTo: copyTo(config, repositories),
    // The stack's server (sftp, or rclone through ssh) shares no variable or option with any repository of the file.
    copyClash: (from, to) => {
      const [source, target] = [repositories?.get(from), repositories?.get(to)]
      return source && target ? copyClash(namedRepository(source), namedRepository(target)) : undefined
    },
    runAt: config.runAt,
    retention: config.retention,
    repoPath: config.repoPath,
    checkAt: config.checkAt,
    overdueAfter: config.overdueAfter,
    maxRunTime: config.maxRunTime,
    drillAt: config.drill.at,
    serverMode: config.serverMode,
  }
}
