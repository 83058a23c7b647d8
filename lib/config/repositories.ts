import { isAbsolute } from 'node:path'
import { ConfigError } from '../errors.js'
import { readSecretFile } from './secret-files.js'
import { readRetention, type Retention } from './values.js'

const RETENTION_KEYS = ['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly', 'keep-within', 'prune']

/**
 * A repository of REPOSITORIES_FILE: a restic URL of any backend, its password file, the backend's
 * credentials (restic's own variables) and options. Labels choose one by its name, never by URL, so
 * that a label writer can send data only where the operator listed.
 */
export interface NamedRepository {
  name: string
  url: string
  passwordFile: string
  /** restic extended options (-o key=value), such as s3.connections=10. */
  options: string[]
  /** The backend's variables for restic's environment, such as AWS_SECRET_ACCESS_KEY: secrets, never shown. */
  env: Record<string, string>
  /** Its keep-* and prune lines: the retention of the copies made into it (rds.backup.copy-to), instead of each service's own. */
  copyRetention?: Retention
}

/** The variables restic's backends read (restic's manual, "Environment Variables"). */
const BACKEND_VARIABLE = /^(AWS_[A-Z0-9_]+|RESTIC_AWS_ASSUME_ROLE_[A-Z_]+|B2_ACCOUNT_(ID|KEY)|AZURE_[A-Z_]+|GOOGLE_[A-Z_]+|OS_[A-Z0-9_]+|ST_(AUTH|USER|KEY)|RESTIC_REST_(USERNAME|PASSWORD)|RESTIC_CACERT|RESTIC_TLS_CLIENT_CERT|RCLONE_[A-Z0-9_]+)$/
export const isBackendVariable = (name: string) => BACKEND_VARIABLE.test(name)
/** Those of them that name a file, which every job of the repository needs as the same file. */
export const FILE_VARIABLES = [
  'RESTIC_CACERT', 'RESTIC_TLS_CLIENT_CERT', 'GOOGLE_APPLICATION_CREDENTIALS', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_CERTIFICATE_PATH',
]
// At most 30 characters: the name goes into a Swarm secret's name, which Swarm keeps under 64.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$/
// What a key may be; anything else is not printed, since a line without its "=" may be a secret.
const KEY = /^[A-Za-z][A-Za-z0-9_-]*$/
// The backends a job reaches with what a section gives it (no ssh key for sftp:, no rclone in the image).
const BACKENDS = ['s3', 'b2', 'azure', 'gs', 'swift', 'rest']
const OPTION = /^[a-z0-9]+\.[a-z0-9_-]+=.+$/
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Reads REPOSITORIES_FILE: a section `[name]` a repository, with `url`, `password-file`, any number
 * of `option = key=value`, and the backend's variables (`AWS_ACCESS_KEY_ID = ...`); `#` starts a
 * comment line. Every mistake is refused with its line, and no value is ever quoted (they are secrets).
 */
export function parseRepositories(text: string, file: string): Map<string, NamedRepository> {
  const found = new Map<string, NamedRepository>()
  let current: NamedRepository | undefined
  // Each repository's retention lines, by the names their errors give them.
  const retentions = new Map<NamedRepository, Record<string, string>>()
  const where = (line: number) => `REPOSITORIES_FILE (${file}) line ${line}`
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim()
    const at = where(index + 1)
    if (line === '' || line.startsWith('#')) return
    const section = /^\[(.*)\]$/.exec(line)
    if (section) {
      const name = section[1]!.trim()
      if (!NAME.test(name)) throw new ConfigError(`${at} names a repository ${JSON.stringify(name)}; a name is up to 30 letters, digits, "_" and "-", such as [offsite].`)
      if (found.has(name)) throw new ConfigError(`${at} names the repository ${name} a second time; give each its own name.`)
      current = { name, url: '', passwordFile: '', options: [], env: {} }
      found.set(name, current)
      return
    }
    const equals = line.indexOf('=')
    if (equals < 1) throw new ConfigError(`${at} is neither a [name] nor a "key = value" line; write one of those.`)
    const key = line.slice(0, equals).trim()
    const value = line.slice(equals + 1).trim()
    if (!KEY.test(key)) throw new ConfigError(`${at} is neither a [name] nor a "key = value" line (a key is letters, digits, "_" and "-", then "="); write one of those.`)
    if (!current) throw new ConfigError(`${at} sets ${key} before any [name]; begin each repository with its name in brackets, such as [offsite].`)
    if (value === '' || CONTROL.test(value)) throw new ConfigError(`${at} gives ${key} of ${current.name} no value, or one with a control character; write its value after "=".`)
    if (/^(["']).*\1$/.test(value)) throw new ConfigError(`${at} gives ${key} of ${current.name} a value in quotes, which would be taken with them; remove the quotes.`)
    if (RETENTION_KEYS.includes(key)) {
      const lines = retentions.get(current) ?? {}
      if (lines[key] !== undefined) throw new ConfigError(`${at} sets ${key} of ${current.name} a second time; keep one.`)
      retentions.set(current, { ...lines, [key]: value })
    } else if (key === 'option') {
      if (!OPTION.test(value)) throw new ConfigError(`${at}: an option of ${current.name} is a restic extended option "backend.name=value", such as s3.connections=10.`)
      current.options.push(value)
    } else if (key === 'url' || key === 'password-file' || BACKEND_VARIABLE.test(key)) {
      const known = key === 'url' ? current.url : key === 'password-file' ? current.passwordFile : current.env[key]
      if (known) throw new ConfigError(`${at} sets ${key} of ${current.name} a second time; keep one.`)
      if ((key === 'password-file' || FILE_VARIABLES.includes(key)) && !isAbsolute(value)) throw new ConfigError(`${at}: ${key} of ${current.name} must be an absolute path such as /run/secrets/${current.name}-password.`)
      if (key === 'url') current.url = value
      else if (key === 'password-file') current.passwordFile = value
      else current.env[key] = value
    } else {
      throw new ConfigError(
        `${at} sets ${key} of ${current.name}, which is not url, password-file, option, keep-* or prune (of the copies made into it), or a variable restic's backends read (AWS_*, B2_*, AZURE_*, GOOGLE_*, OS_*, ST_*, RESTIC_REST_*, RESTIC_CACERT); remove it or correct its name.`,
      )
    }
  })
  for (const [repository, lines] of retentions) {
    repository.copyRetention = readRetention(Object.fromEntries(Object.entries(lines).map(([key, value]) => [`${key} of ${repository.name} in REPOSITORIES_FILE (${file})`, value])), (key) => `${key === 'prune' ? 'prune' : `keep-${key}`} of ${repository.name} in REPOSITORIES_FILE (${file})`)
  }
  // One repository under two names: a copy from one into the other would copy into itself, and its retention apply twice.
  const urls = new Map<string, string>()
  for (const repository of found.values()) {
    const url = repository.url.replace(/\/+$/, '')
    const first = urls.get(url)
    if (first !== undefined) throw new ConfigError(`REPOSITORIES_FILE (${file}) gives ${repository.name} the url of ${first}; list each repository once, under one name.`)
    urls.set(url, repository.name)
  }
  for (const repository of found.values()) {
    for (const [key, set] of [['url', repository.url], ['password-file', repository.passwordFile]] as const) {
      if (!set) throw new ConfigError(`REPOSITORIES_FILE (${file}) gives the repository ${repository.name} no ${key}; add "${key} = ..." to its section.`)
    }
    // A URL names its backend; a plain path would be a folder in whichever container runs restic.
    if (!BACKENDS.some((backend) => repository.url.startsWith(`${backend}:`))) {
      throw new ConfigError(
        `REPOSITORIES_FILE (${file}) gives ${repository.name} a url of a backend rds cannot hand its jobs (${BACKENDS.map((backend) => `${backend}:`).join(', ')} it can); a local folder differs on every node, and sftp: and rclone: need a key or a program no job has.`,
      )
    }
  }
  return found
}

/**
 * Reads and checks REPOSITORIES_FILE, and that each repository's files can be read: those of `only`
 * (a single agent's REPOSITORY_NAME, which needs no other repository's secrets), else all of them.
 */
export async function readRepositories(file: string, only?: string): Promise<Map<string, NamedRepository>> {
  const repositories = parseRepositories(await readSecretFile('REPOSITORIES_FILE', file, 'list of repositories'), file)
  for (const repository of repositories.values()) {
    if (only !== undefined && repository.name !== only) continue
    await readSecretFile(`the password-file of ${repository.name} in REPOSITORIES_FILE`, repository.passwordFile, 'repository password')
    for (const name of FILE_VARIABLES.filter((name) => repository.env[name])) await readSecretFile(`${name} of ${repository.name} in REPOSITORIES_FILE`, repository.env[name]!, 'file')
  }
  return repositories
}

/** The repository REPOSITORY_NAME (or a label) names, or a sentence that lists those there are. */
export function chosenRepository(repositories: Map<string, NamedRepository>, name: string, by: string): NamedRepository {
  const found = repositories.get(name)
  if (found) return found
  const listed = [...repositories.keys()]
  throw new ConfigError(`${by} is ${JSON.stringify(name)}, which REPOSITORIES_FILE does not list${listed.length > 0 ? ` (it lists ${listed.join(', ')})` : ''}; write one of its names, or add [${name}] to it.`)
}

/** One repository's section, as a job reads it from its own secret: the same format. */
export function repositorySection(repository: NamedRepository): string {
  const lines = [`[${repository.name}]`, `url = ${repository.url}`, `password-file = ${repository.passwordFile}`, ...repository.options.map((option) => `option = ${option}`)]
  for (const [key, value] of Object.entries(repository.env)) lines.push(`${key} = ${value}`)
  return `${lines.join('\n')}\n`
}

/** The files a job of the repository reads, each one of the controller's Swarm secrets. */
export const filesOf = (repository: NamedRepository) => [repository.passwordFile, ...FILE_VARIABLES.flatMap((name) => (repository.env[name] ? [repository.env[name]!] : []))]

/**
 * COPY_TO (MODE=swarm) or rds.backup.copy-to: names of REPOSITORIES_FILE separated by commas, or
 * "none". Names only, never a URL or a path: copies go only where the operator listed.
 */
export function copyToNames(raw: string, by: string): string[] {
  const names = raw.split(',').map((name) => name.trim())
  if (names.length === 1 && names[0] === 'none') return []
  // Never quoted: a URL written here may hold a password.
  if (names.some((name) => !NAME.test(name) || name === 'none')) {
    throw new ConfigError(`${by} names repositories of REPOSITORIES_FILE, separated by commas, such as "offsite" or "offsite,archive", never a URL or a path; or it is "none" alone.`)
  }
  const twice = names.find((name, index) => names.indexOf(name) !== index)
  if (twice !== undefined) throw new ConfigError(`${by} names ${twice} twice; name each repository once.`)
  return names
}

/**
 * The retention of a service's copies in a repository: the repository's keep-* lines if it has any
 * (an archive that keeps years), else the service's own; pruned if either says prune.
 */
export function copiesRetention(section: Retention | undefined, service: Retention): Retention {
  if (!section) return service
  const keeps = Object.entries(section).some(([key, value]) => key !== 'prune' && value !== undefined)
  return { ...(keeps ? section : service), prune: Boolean(section.prune || service.prune) }
}
