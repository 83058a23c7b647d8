import { isRepositoryPath } from '../config/values.js'
import { ConfigError } from '../errors.js'

/** What one agent key may do on the server. */
export interface KeyAccess {
  /** "sftp": every repository, over SFTP (a key line without a command). Otherwise one repository, through rds-serve. */
  mode: 'sftp' | 'confined' | 'append-only'
  repository?: string
  /** The key's comment, to name it in the log. */
  comment: string
}

/** The forced command of a plain key: SFTP, starting in the repositories' directory (/home/restic, /restic in the chroot). */
export const SFTP_COMMAND = 'internal-sftp -d /restic'

const KEY_TYPE = /^(ssh-|ecdsa-|sk-)/

/** Where `separator` first occurs outside double quotes (authorized_keys' option syntax), or -1. */
function indexOutsideQuotes(text: string, separator: RegExp, from = 0): number {
  let quoted = false
  for (let i = from; i < text.length; i++) {
    const char = text[i]!
    if (char === '\\' && quoted) i++
    else if (char === '"') quoted = !quoted
    else if (!quoted && separator.test(char)) return i
  }
  return -1
}

/** The options of a key line, split at the commas outside quotes. */
function splitOptions(options: string): string[] {
  const parts: string[] = []
  let start = 0
  for (let comma = indexOutsideQuotes(options, /,/); comma !== -1; comma = indexOutsideQuotes(options, /,/, start)) {
    parts.push(options.slice(start, comma))
    start = comma + 1
  }
  parts.push(options.slice(start))
  return parts.filter((part) => part !== '')
}

/** The access an rds-serve command gives, or undefined when `command` is not rds-serve. */
export function serveCommandAccess(command: string): Pick<KeyAccess, 'mode' | 'repository'> | undefined {
  const words = command.trim().split(/\s+/)
  if (words[0] !== 'rds-serve') return undefined
  const appendOnly = words[1] === '--append-only'
  const rest = words.slice(appendOnly ? 2 : 1)
  if (rest.length !== 1 || !isRepositoryPath(rest[0]!)) return undefined
  return { mode: appendOnly ? 'append-only' : 'confined', repository: rest[0] }
}

/**
 * Turns the agents' keys (AUTHORIZED_KEYS_FILE) into the authorized_keys file sshd reads. Every key
 * gets `restrict` and a forced command: a key line without one speaks SFTP, as before keys could be
 * confined; a line with `command="rds-serve [--append-only] REPOSITORY"` (rds keygen writes such
 * lines) reaches that repository only. Any other command is refused, so that no key ever gets a
 * shell. Throws a ConfigError naming the line to mend.
 */
export function serverAuthorizedKeys(text: string, source: string): { text: string; keys: KeyAccess[] } {
  const out: string[] = []
  const keys: KeyAccess[] = []
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim()
    const where = `line ${index + 1} of ${source}`
    if (line === '' || line.startsWith('#')) return out.push(line)
    const space = KEY_TYPE.test(line) ? 0 : indexOutsideQuotes(line, /\s/)
    const rest = space === -1 ? '' : line.slice(space).trimStart()
    if (!KEY_TYPE.test(rest)) throw new ConfigError(`${where} is not a public key (it should start with its options or its type, such as ssh-ed25519); mend or remove it.`)
    const options = splitOptions(line.slice(0, space)).filter((option) => option.toLowerCase() !== 'restrict')
    const commands = options.filter((option) => /^command=/i.test(option))
    const comment = rest.split(/\s+/).slice(2).join(' ') || `key ${index + 1}`
    if (commands.length === 0) {
      keys.push({ mode: 'sftp', comment })
      return out.push(['restrict', `command="${SFTP_COMMAND}"`, ...options].join(',') + ' ' + rest)
    }
    const command = commands[0]!.replace(/^command="?/i, '').replace(/"$/, '')
    const access = commands.length === 1 ? serveCommandAccess(command) : undefined
    if (!access) {
      throw new ConfigError(
        `${where} has the command ${JSON.stringify(command)}, which the server does not run; remove it (the key then speaks SFTP) or write command="rds-serve [--append-only] REPOSITORY" (rds keygen writes such lines).`,
      )
    }
    keys.push({ ...access, comment })
    out.push(['restrict', ...options].join(',') + ' ' + rest)
  })
  if (keys.length === 0) throw new ConfigError(`${source} holds no public key; add the agents' keys (rds keygen prints the line for each).`)
  return { text: out.join('\n').trimEnd() + '\n', keys }
}

/** The keys in words for the server's log: "ssh-ed25519 ... agent-db: append-only, repository db". */
export function describeKeys(keys: KeyAccess[]): string[] {
  return keys.map((key) => `${key.comment}: ${key.mode === 'sftp' ? 'SFTP, every repository' : `${key.mode}, repository ${key.repository}`}`)
}
