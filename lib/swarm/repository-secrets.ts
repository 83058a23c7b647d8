import { createHash } from 'node:crypto'
import type Docker from 'dockerode'
import { filesOf, repositorySection, type NamedRepository } from '../config/repositories.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { secretPath, type SecretReference } from './own-service.js'

/** The label of the Swarm secrets that hold one repository's section each, for its jobs. */
export const REPOSITORY_SECRET_LABEL = 'rds.repository'
/** Where a job reads its repository's section (REPOSITORIES_FILE in the job). */
export const JOB_REPOSITORIES_FILE = '/run/secrets/rds-repository'

/** A section's secret is named by its content: a Swarm secret never changes. */
const secretName = (repository: NamedRepository) => `rds-repository-${repository.name}-${createHash('sha256').update(repositorySection(repository)).digest('hex').slice(0, 12)}`

/**
 * How jobs reach the repositories of REPOSITORIES_FILE. A job gets its repository's section only
 * (a Swarm secret the controller makes of it, named by a hash of its content, since a secret never
 * changes) and the files that section names, which must be the controller's own Swarm secrets: the
 * backend's credentials reach the job in files, never in its service spec, argv or log, and no job
 * gets another repository's credentials or the server's key.
 */
export class RepositorySecrets {
  constructor(
    private readonly docker: Docker,
    private readonly named: Map<string, NamedRepository>,
    private readonly ownSecrets: SecretReference[],
  ) {
    for (const repository of named.values()) {
      const missing = filesOf(repository).find((file) => !ownSecrets.some((secret) => secretPath(secret) === file))
      if (missing !== undefined) {
        throw new ConfigError(`REPOSITORIES_FILE gives ${repository.name} the file ${missing}, which is not one of the agent's Swarm secrets; its jobs get files only as secrets: add it to the agent's secrets at that path.`)
      }
    }
  }

  /** A job's environment and secrets when its REPO_PATH names one of the repositories; undefined otherwise. */
  async forJob(env: string[]): Promise<{ env: string[]; secrets: unknown[] } | undefined> {
    const key = [...env].reverse().find((variable) => variable.startsWith('REPO_PATH='))?.slice('REPO_PATH='.length)
    const repository = key === undefined ? undefined : this.named.get(key)
    if (!repository) return undefined
    const section = await this.secretOf(repository)
    // SERVER_MODE and REPO_PATH are the server's: the job's rds would refuse them beside REPOSITORY_NAME.
    const own = env.filter((variable) => !variable.startsWith('REPO_PATH=') && !variable.startsWith('SERVER_MODE='))
    const files = this.ownSecrets.filter((secret) => filesOf(repository).includes(secretPath(secret)))
    return {
      env: [...own, `REPOSITORY_NAME=${repository.name}`, `REPOSITORIES_FILE=${JOB_REPOSITORIES_FILE}`],
      secrets: [{ SecretID: section.id, SecretName: section.name, File: { Name: JOB_REPOSITORIES_FILE, UID: '0', GID: '0', Mode: 0o400 } }, ...files],
    }
  }

  /** The Swarm secret of a repository's section as it is now, made if there is none. */
  private async secretOf(repository: NamedRepository): Promise<{ id: string; name: string }> {
    const name = secretName(repository)
    const find = async () => ((await this.docker.listSecrets({ filters: { name: [name] } })) as { ID: string; Spec?: { Name?: string } }[]).find((secret) => secret.Spec?.Name === name)
    const found = await find()
    if (found) return { id: found.ID, name }
    try {
      const made = (await this.docker.createSecret({ Name: name, Labels: { [REPOSITORY_SECRET_LABEL]: repository.name }, Data: Buffer.from(repositorySection(repository)).toString('base64') })) as { id?: string; ID?: string }
      return { id: made.id ?? made.ID ?? '', name }
    } catch (error) {
      // Another run made it meanwhile (409): use that one.
      const again = await find()
      if (again) return { id: again.ID, name }
      throw error
    }
  }

  /** Removes the sections of repositories since changed or dropped; one a job still uses stays until next time. */
  async removeStale(log: Logger): Promise<void> {
    const current = new Set([...this.named.values()].map(secretName))
    const listed = (await this.docker.listSecrets({ filters: { label: [REPOSITORY_SECRET_LABEL] } })) as { ID: string; Spec?: { Name?: string } }[]
    for (const secret of listed.filter((secret) => !current.has(secret.Spec?.Name ?? ''))) {
      await this.docker
        .getSecret(secret.ID)
        .remove()
        .then(() => log.info(`controller: removed the secret ${secret.Spec?.Name}, a repository's section that changed or is no longer listed`))
        .catch(() => undefined)
    }
  }
}
