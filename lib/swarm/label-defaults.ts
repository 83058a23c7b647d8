import type { Config } from '../config/environment.js'
import { readRepositories } from '../config/repositories.js'
import { ConfigError } from '../errors.js'
import type { LabelDefaults } from './labels.js'

/** The names labels may choose; one that is also REPO_PATH would make the default repository two places at once. */
function repositoryNames(repositories: Map<string, unknown>, repoPath: string): string[] {
  if (repositories.has(repoPath)) throw new ConfigError(`REPOSITORIES_FILE lists a repository named ${repoPath}, which is also REPO_PATH, the default repository on the server; rename the section.`)
  return [...repositories.keys()]
}

/**
 * What the controller's environment gives every labelled service that does not say otherwise, with
 * the names of REPOSITORIES_FILE (read again each time: every reader of labels must know them, or a
 * name would be taken for a path on the server).
 */
export const labelDefaults = async (config: Config): Promise<LabelDefaults> => ({
  repositories: config.repositories.file === undefined ? undefined : repositoryNames(await readRepositories(config.repositories.file), config.repoPath),
  runAt: config.runAt,
  retention: config.retention,
  repoPath: config.repoPath,
  checkAt: config.checkAt,
  overdueAfter: config.overdueAfter,
  maxRunTime: config.maxRunTime,
  drillAt: config.drill.at,
  serverMode: config.serverMode,
})
