import { ConfigError } from '../errors.js'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { repositoryEnv, urlRepository, type Repository } from './repository.js'
import { runRestic, type Restic } from './command.js'

export interface CopyOptions {
  /** Let restic show its progress (on a terminal). */
  progress?: boolean
  /** The second repository's URL and password file. */
  to: string
  toPasswordFile: string
  /** Only this host's snapshots; all of them when absent. */
  host?: string
}

/**
 * Copies snapshots from the source repository to a second one (restic copy), creating the second
 * one first, with the source's chunker parameters so that deduplication carries over, if restic
 * says there is none. restic copy skips snapshots the destination already holds.
 */
export async function copySnapshots(source: Restic, options: CopyOptions, log: Logger): Promise<void> {
  // restic reads one set of a backend's variables for both repositories: the source's would go to the destination.
  if (Object.keys(source.repository.env ?? {}).length > 0) {
    throw new ConfigError(`copies from ${source.repository.describe}, a repository of REPOSITORIES_FILE, are not made by COPY_TO or rds copy: its credentials would reach the destination; copy from a repository with no credentials of its own.`)
  }
  const target = urlRepository(options.to, options.toPasswordFile)
  // restic runs against the destination, reading from the source: the source's -o options (its ssh
  // config, which applies to the source's host alias only) go along as global options.
  const destination: Restic = { ...source, repository: { ...target, options: source.repository.options } satisfies Repository }
  // Both repositories reach restic through its environment, never its argv.
  const env = repositoryEnv(source.repository, 'from')
  try {
    await runRestic(destination, ['cat', 'config'], { log, expectedExitCodes: [EXIT.noRepository] })
  } catch (error) {
    if (!(error instanceof RunError) || error.exitCode !== EXIT.noRepository) throw error
    log.info(`copy: no repository at ${target.describe} yet, creating it with the source's chunker parameters`)
    await runRestic(destination, ['init', '--copy-chunker-params'], { log, env })
  }
  log.info(`copy: ${source.repository.describe} to ${target.describe}${options.host ? ` (host ${options.host})` : ''}`)
  await runRestic(destination, ['copy', ...(options.host ? ['--host', options.host] : [])], {
    log,
    env,
    stdoutTo: options.progress ? 'inherit' : undefined,
  })
  log.info('copy: done')
}
