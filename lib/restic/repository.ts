import type { Config, ServerMode } from '../config/environment.js'
import type { SshTransport } from '../transport/ssh.js'
import type { NamedRepository } from '../config/repositories.js'

/**
 * A restic repository and what is needed to open it. `describe` names it for people: it is what
 * messages print, and it never contains a secret.
 */
export interface Repository {
  url: string
  /** restic extended options (-o key=value). */
  options: string[]
  passwordFile: string
  describe: string
  /** The backend's variables for restic's environment (a repository of REPOSITORIES_FILE): secrets, never in argv or a log. */
  env?: Record<string, string>
  /** Present for a repository on an SSH server, so that ssh failures can be diagnosed and name the files to fix. */
  ssh?: {
    /** How the server lets the key in (SERVER_MODE): SFTP, or restic's REST protocol through rclone. */
    mode: ServerMode
    transport: SshTransport
    destination: string
    /** The repository's path on the server, as REPO_PATH gives it. */
    repoPath: string
    knownHostsFile: string
    privkeyFile: string
  }
}

// restic splits sftp.args like a shell would; quote a path that contains white space.
const shellWord = (word: string) => (/[\s"'\\]/.test(word) ? `"${word.replace(/(["\\$`])/g, '\\$1')}"` : word)

/**
 * What a confined agent asks the server's forced command (rds-serve) for, before its REPO_PATH:
 * rds-serve refuses an agent whose mode is not its key's, so that an agent that believes itself
 * append-only never runs with a key that can delete, nor the other way round.
 */
export function serveArgs(mode: Exclude<ServerMode, 'sftp'>): string[] {
  return ['serve', 'restic', '--stdio', ...(mode === 'append-only' ? ['--append-only'] : [])]
}

/**
 * The repository REPO_PATH on the SSH server. With SERVER_MODE=sftp restic speaks SFTP through ssh;
 * otherwise restic's rclone backend runs ssh, whose forced command on the server (rds-serve) is
 * rclone serving this one repository over restic's REST protocol; restic sends REPO_PATH along so
 * that the server can refuse a key meant for another repository with a clear message.
 */
export function serverRepository(config: Config, transport: SshTransport): Repository {
  const destination = `${config.sshUser}@${config.sshHost}:${config.sshPort}`
  const mode = config.serverMode
  const sshCommand = `ssh -F ${shellWord(transport.configFile)}`
  return {
    url: mode === 'sftp' ? `sftp:${transport.alias}:${config.repoPath}` : `rclone:${config.repoPath}`,
    options: mode === 'sftp' ? [`sftp.args=-F ${shellWord(transport.configFile)}`] : [`rclone.program=${sshCommand} ${transport.alias}`, `rclone.args=${serveArgs(mode).join(' ')}`],
    passwordFile: config.passwordFile,
    describe: `${config.repoPath} on ${destination}${mode === 'sftp' ? '' : ` (${mode})`}`,
    ssh: {
      mode,
      transport,
      destination,
      repoPath: config.repoPath,
      knownHostsFile: config.sshKnownHostsFile,
      privkeyFile: config.sshPrivkeyFile,
    },
  }
}

/**
 * The repository a key of MODE=swarm names (a service's rds.backup.repo, or REPO_PATH): one of
 * REPOSITORIES_FILE by its name, else a path on the stack's server.
 */
export function repositoryOfKey(key: string, config: Config, transport: SshTransport, named?: Map<string, NamedRepository>): Repository {
  const found = named?.get(key)
  return found ? namedRepository(found) : serverRepository({ ...config, repoPath: key }, transport)
}

// A URL's password (rest:https://user:secret@host/) is never shown, nor a token with no user
// (https://token@host/), even one with an "@" in it.
const withoutPassword = (url: string) =>
  url.replace(/\/\/([^/]*)@/, (_, userinfo: string) => `//${userinfo.includes(':') ? `${userinfo.slice(0, userinfo.indexOf(':'))}:***` : '***'}@`)

/** Any restic repository URL (RESTIC_REPOSITORY): S3, B2, Azure, GCS, rest-server, a local path... */
export function urlRepository(url: string, passwordFile: string): Repository {
  return { url, options: [], passwordFile, describe: withoutPassword(url) }
}

/** A repository of REPOSITORIES_FILE, described by its name and URL (a URL's password hidden). */
export function namedRepository(named: NamedRepository): Repository {
  return { url: named.url, options: named.options, passwordFile: named.passwordFile, env: named.env, describe: `${named.name} (${withoutPassword(named.url)})` }
}

/**
 * The variables that tell restic which repository to open: the repository's URL and password file
 * travel in restic's environment, never in its argv, where `ps` would show a URL's credentials.
 * With `from`, the names restic copy and init --copy-chunker-params read for the source repository.
 */
export function repositoryEnv(repository: Repository, role: 'repository' | 'from' = 'repository'): Record<string, string> {
  const prefix = role === 'from' ? 'RESTIC_FROM_' : 'RESTIC_'
  return { ...repository.env, [`${prefix}REPOSITORY`]: repository.url, [`${prefix}PASSWORD_FILE`]: repository.passwordFile }
}

/** The options that come before every restic command: how to reach the repository, how long to wait for a lock. */
export function repositoryOptions(repository: Repository, retryLock?: string): string[] {
  const args = repository.options.flatMap((option) => ['--option', option])
  if (retryLock !== undefined) args.push('--retry-lock', retryLock)
  return args
}
