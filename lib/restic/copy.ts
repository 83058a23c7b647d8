import { ConfigError } from '../errors.js'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { repositoryEnv, urlRepository, type Repository } from './repository.js'
import { runRestic, type Restic } from './command.js'
import { vanished, type SavedThere } from './init.js'

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
 * Copies snapshots from the source repository to a second one given by its URL (COPY_TO, rds copy).
 * A source of REPOSITORIES_FILE is refused: its credentials would reach a destination nobody listed.
 */
export async function copySnapshots(source: Restic, options: CopyOptions, log: Logger): Promise<void> {
  if (Object.keys(source.repository.env ?? {}).length > 0) {
    throw new ConfigError(`copies from ${source.repository.describe}, a repository of REPOSITORIES_FILE, are not made by COPY_TO or rds copy: its credentials would reach the destination; copy from a repository with no credentials of its own.`)
  }
  await copyInto(source, urlRepository(options.to, options.toPasswordFile), { host: options.host, progress: options.progress }, log)
}

// The backend a variable or an extended option speaks to; '*' for those every backend over TLS reads.
const FAMILIES: [RegExp, string][] = [
  [/^(AWS_|RESTIC_AWS_)/, 's3'], [/^B2_/, 'b2'], [/^AZURE_/, 'azure'], [/^GOOGLE_/, 'gs'], [/^(OS_|ST_)/, 'swift'],
  [/^RESTIC_REST_/, 'rest'], [/^RCLONE_/, 'rclone'], [/^RESTIC_(CACERT|TLS_CLIENT_CERT)$/, 'tls'],
]
const familyOf = (variable: string) => FAMILIES.find(([pattern]) => pattern.test(variable))?.[1]
const schemeOf = (url: string) => url.slice(0, url.indexOf(':'))
/** Whether a repository reads what a family of variables or options says. */
function reads(repository: Repository, family: string | undefined): boolean {
  const scheme = schemeOf(repository.url)
  // Only HTTPS reads a certificate: S3 and REST may speak plain HTTP.
  if (family === 'tls') return ['s3', 'rest', 'b2', 'azure', 'gs', 'swift'].includes(scheme) && !repository.url.startsWith(`${scheme}:http://`)
  return family === scheme
}

/**
 * Why restic cannot copy from one repository into the other, if it cannot: restic reads one set of
 * a backend's variables and extended options for both (only the repository and its password have
 * FROM twins), so each variable or option goes to both, with the source's value where both set it
 * (copyInto). A repository that reads one must then get its own value (or none, if it sets none).
 * Names the variable or option, never its value.
 */
export function copyClash(from: Repository, to: Repository): string | undefined {
  const clash = (name: string, family: string | undefined, own: (repository: Repository) => string | undefined) => {
    const given = own(from) ?? own(to)
    return [from, to].some((repository) => reads(repository, family) && own(repository) !== given) ? name : undefined
  }
  for (const name of [...new Set([...Object.keys(from.env ?? {}), ...Object.keys(to.env ?? {})])].sort()) {
    const found = clash(name, familyOf(name), (repository) => repository.env?.[name])
    if (found) return found
  }
  const optionOf = (repository: Repository, key: string) => repository.options.find((option) => option.startsWith(`${key}=`))
  for (const key of [...new Set([...from.options, ...to.options].map((option) => option.slice(0, option.indexOf('='))))].sort()) {
    const found = clash(`option ${key}`, key.slice(0, key.indexOf('.')), (repository) => optionOf(repository, key))
    if (found) return found
  }
  return undefined
}

/**
 * Copies snapshots from the source repository into the target (restic copy), creating the target
 * first, with the source's chunker parameters so that deduplication carries over, if restic says
 * there is none and `savedThere` knows of nothing saved there. restic copy skips snapshots the
 * target already holds. `ids`: only these snapshots; `host`: only this host's.
 */
export async function copyInto(source: Restic, target: Repository, options: { ids?: string[]; host?: string; progress?: boolean; savedThere?: () => Promise<SavedThere | undefined> }, log: Logger): Promise<void> {
  // None to copy: restic copy with no snapshot named would copy every one.
  if (options.ids?.length === 0) return
  const clash = copyClash(source.repository, target)
  if (clash) throw new ConfigError(`${source.repository.describe} and ${target.describe} set ${clash} differently, and restic reads one for both repositories of a copy; copy between repositories that agree on it.`)
  // restic runs against the target, reading from the source: the options of both go along as
  // global options (the source's ssh config applies to its host alias only).
  const destination: Restic = { ...source, repository: { ...target, options: [...new Set([...source.repository.options, ...target.options])] } satisfies Repository }
  // Both repositories reach restic through its environment, never its argv.
  const env = repositoryEnv(source.repository, 'from')
  try {
    await runRestic({ ...destination, retryLock: undefined }, ['cat', 'config', '--no-lock'], { log, expectedExitCodes: [EXIT.noRepository] })
  } catch (error) {
    if (!(error instanceof RunError) || error.exitCode !== EXIT.noRepository) throw error
    // One that held copies and is gone (a bucket emptied, a disk not mounted) is a loud failure, never started afresh.
    const saved = await options.savedThere?.()
    if (saved) throw vanished(target.describe, saved)
    log.info(`copy: no repository at ${target.describe} yet, creating it with the source's chunker parameters`)
    await runRestic(destination, ['init', '--copy-chunker-params'], { log, env })
  }
  log.info(`copy: ${source.repository.describe} to ${target.describe}${options.host ? ` (host ${options.host})` : ''}`)
  await runRestic(destination, ['copy', ...(options.host ? ['--host', options.host] : []), ...(options.ids ?? [])], {
    log,
    env,
    stdoutTo: options.progress ? 'inherit' : undefined,
  })
  log.info('copy: done')
}
