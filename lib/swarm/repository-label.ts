import type { ServerMode } from '../config/environment.js'
import { isRepositoryPath } from '../config/values.js'
import { ConfigError } from '../errors.js'

/**
 * A rds.backup.repo that names no repository of REPOSITORIES_FILE is a path on the stack's server.
 * Never a URL: a label writer may send data only where the operator listed. With the file, a path
 * needs a folder (or is REPO_PATH), so that a misspelt name is an error, not a new repository.
 */
export function checkServerPath(label: string, repo: string, defaults: { repoPath: string; serverMode?: ServerMode; repositories?: string[] }): void {
  const listed = defaults.repositories ?? []
  const names = listed.length > 0 ? ` (REPOSITORIES_FILE lists ${listed.join(', ')})` : ''
  if (/^[a-z0-9+]+:/i.test(repo) || repo.includes('//')) {
    throw new ConfigError(`${label} names a repository, never a URL; list the URL under a name in the controller's REPOSITORIES_FILE and write that name${names}.`)
  }
  if (!isRepositoryPath(repo)) {
    throw new ConfigError(`${label} must be a path under the server's login directory such as "app/db" (letters, digits, "_", "." and "-"), not ${JSON.stringify(repo)}.`)
  }
  const first = repo.split('/')[0]!
  if (repo.includes('/') && listed.includes(first)) {
    throw new ConfigError(`${label} is ${JSON.stringify(repo)}, a path on the stack's server under the name of a repository of REPOSITORIES_FILE; write the name alone (${first}) for that repository, or another path on the server.`)
  }
  if (defaults.repositories !== undefined && !repo.includes('/') && repo !== defaults.repoPath) {
    throw new ConfigError(`${label} is ${JSON.stringify(repo)}, which REPOSITORIES_FILE does not list${names}; write one of its names, or a path on the stack's server with a folder, such as "${repo}/data".`)
  }
  if (repo !== defaults.repoPath && defaults.serverMode !== undefined && defaults.serverMode !== 'sftp') {
    throw new ConfigError(`${label} is ${JSON.stringify(repo)}, but the agent's key (SERVER_MODE=${defaults.serverMode}) reaches only its REPO_PATH ${JSON.stringify(defaults.repoPath)}; remove the label, or back this service up with an agent whose key reaches ${repo}.`)
  }
}
