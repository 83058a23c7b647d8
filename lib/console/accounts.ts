import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { ConfigError } from '../errors.js'
import { readSecretFile } from '../config/secret-files.js'

/** What a console user or token may do: read-only sees everything and changes nothing. */
export type Role = 'operator' | 'read-only'
export const ROLES: readonly Role[] = ['operator', 'read-only']

/** One line of CONSOLE_USERS_FILE: a person who logs in with a password, or a script's token. */
export interface Account {
  kind: 'user' | 'token'
  name: string
  role: Role
  /** scrypt$N$r$p$salt$key for a user's password; sha256$hex for a token's secret. */
  hash: string
}

const run = promisify(scrypt) as (password: string, salt: Buffer, length: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>
// scrypt with 32 MiB of memory a try: slow for a guesser, 0.1 s for a login.
const COST = { N: 2 ** 15, r: 8, p: 1 }
const KEY_LENGTH = 32
const maxmem = (N: number, r: number) => 256 * N * r
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** The line of CONSOLE_USERS_FILE for a user with this password (salted scrypt). */
export async function userLine(name: string, role: Role, password: string): Promise<string> {
  checkName(name)
  if (password.length < 12) throw new ConfigError('the password must have at least 12 characters; choose a longer one.')
  const salt = randomBytes(16)
  const key = await run(password, salt, KEY_LENGTH, { ...COST, maxmem: maxmem(COST.N, COST.r) })
  return `user ${name} ${role} scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** A new token for scripts and its line for CONSOLE_USERS_FILE: the token is shown once, only its hash is kept. */
export function newToken(name: string, role: Role): { token: string; line: string } {
  checkName(name)
  const secret = randomBytes(32).toString('base64url')
  return { token: `${name}.${secret}`, line: `token ${name} ${role} sha256$${sha256(secret)}` }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new ConfigError(`${JSON.stringify(name)} cannot be a console user's or token's name; use letters, digits, ".", "_" and "-" (up to 64).`)
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** Parses CONSOLE_USERS_FILE; a line that is not "user|token NAME ROLE HASH" is a ConfigError naming its number. */
export function parseAccounts(text: string, file: string): Account[] {
  const accounts: Account[] = []
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const [kind, name, role, hash, ...rest] = line.split(/\s+/)
    const where = `line ${index + 1} of CONSOLE_USERS_FILE (${file})`
    const valid =
      rest.length === 0 &&
      (kind === 'user' || kind === 'token') &&
      NAME.test(name ?? '') &&
      ROLES.includes(role as Role) &&
      (kind === 'user' ? /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/ : /^sha256\$[0-9a-f]{64}$/).test(hash ?? '')
    if (!valid) throw new ConfigError(`${where} is not "user NAME ROLE HASH" or "token NAME ROLE HASH" with ROLE operator or read-only; make the line with rds console-user or rds console-token.`)
    if (accounts.some((account) => account.name === name)) throw new ConfigError(`${where} names ${name} again; give each user and token a name of its own.`)
    accounts.push({ kind, name: name!, role: role as Role, hash: hash! })
  }
  if (accounts.length === 0) throw new ConfigError(`CONSOLE_USERS_FILE (${file}) names no user; add one made with rds console-user.`)
  return accounts
}

/** Reads CONSOLE_USERS_FILE, a Swarm secret. */
export async function readAccounts(file: string): Promise<Accounts> {
  return new Accounts(parseAccounts(await readSecretFile('CONSOLE_USERS_FILE', file, 'console users file'), file))
}

// A name that is not there is checked against this, so that a login takes as long either way.
const NOBODY = `scrypt$${COST.N}$${COST.r}$${COST.p}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(KEY_LENGTH).toString('base64')}`

/** The console's users and tokens, and the checks of a password or a token against them. */
export class Accounts {
  constructor(private readonly accounts: Account[]) {}

  /** The user this name and password are, or undefined. */
  async login(name: string, password: string): Promise<Account | undefined> {
    const account = this.accounts.find((candidate) => candidate.kind === 'user' && candidate.name === name)
    const [, N, r, p, salt, key] = (account?.hash ?? NOBODY).split('$')
    const expected = Buffer.from(key!, 'base64')
    const actual = await run(password, Buffer.from(salt!, 'base64'), expected.length, { N: Number(N), r: Number(r), p: Number(p), maxmem: maxmem(Number(N), Number(r)) })
    return account && timingSafeEqual(actual, expected) ? account : undefined
  }

  /** Whether a user has this name. */
  has(name: string): boolean {
    return this.accounts.some((account) => account.kind === 'user' && account.name === name)
  }

  /** The token "NAME.SECRET" is, or undefined. Its secret is random: one fast hash suffices, as for GitHub's tokens. */
  byToken(token: string): Account | undefined {
    const dot = token.indexOf('.')
    if (dot < 1) return undefined
    const account = this.accounts.find((candidate) => candidate.kind === 'token' && candidate.name === token.slice(0, dot))
    const actual = Buffer.from(sha256(token.slice(dot + 1)), 'hex')
    const expected = Buffer.from((account?.hash ?? `sha256$${'0'.repeat(64)}`).slice('sha256$'.length), 'hex')
    return account && timingSafeEqual(actual, expected) ? account : undefined
  }
}
