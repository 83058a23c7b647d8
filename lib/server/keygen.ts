import { appendFile, chown, readFile, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { execa } from 'execa'
import { ConfigError, RunError } from '../errors.js'
import { RETENTION_VARIABLES, type ServerMode } from '../config/environment.js'
import { SFTP_COMMAND, serveCommandAccess } from './authorized-keys.js'

export interface KeygenOptions {
  /** The repository the key reaches (REPO_PATH); unused for SFTP, which reaches every repository. */
  repository?: string
  mode: ServerMode
  /** Where the key pair is written; the files get this directory's owner (a bind mount's user). */
  dir: string
  /** The file of the server's authorized keys the line is added to (made if missing). */
  authorizedKeys: string
  /** The key's name: its files, its comment and the agent's Swarm secret. */
  name: string
  /** The server's and the agent's Swarm services, for the printed docker service update. */
  serverService: string
  agentService: string
}

export interface KeygenResult {
  privateKeyFile: string
  authorizedKeysLine: string
  /** What to run next and what to set on the agent, for people. */
  instructions: string
  /** The commands of the instructions, one a line, for scripts. */
  commands: string[]
}

/** The authorized_keys line for a public key: rds-serve confines it to its repository, or none for SFTP. */
export function authorizedKeysLine(publicKey: string, mode: ServerMode, repository: string | undefined): string {
  if (mode === 'sftp') return publicKey
  const command = `rds-serve ${mode === 'append-only' ? '--append-only ' : ''}${repository}`
  if (!serveCommandAccess(command)) throw new ConfigError(`--repository must be a path under the server's repositories such as "app/db", not ${JSON.stringify(repository)}.`)
  return `restrict,command="${command}" ${publicKey}`
}

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/**
 * Makes an ed25519 key pair for one agent (ssh-keygen, no passphrase: the agent runs unattended),
 * adds the server's line for it to the authorized keys file, and says what to run next: the two
 * Swarm secrets and the agent's settings. An existing key file is never overwritten.
 */
export async function makeAgentKey(options: KeygenOptions): Promise<KeygenResult> {
  const { mode, repository, dir, name } = options
  if (mode !== 'sftp' && repository === undefined) throw new ConfigError(`--repository is needed for ${mode === 'append-only' ? 'an' : 'a'} ${mode} key: name the one repository it may reach, e.g. --repository db.`)
  if (!SECRET_NAME.test(name)) throw new ConfigError(`--name must be a Swarm secret name (letters, digits, "_", "." and "-"), not ${JSON.stringify(name)}.`)
  const privateKeyFile = join(dir, name)
  if (await stat(privateKeyFile).then(() => true, () => false)) throw new ConfigError(`${privateKeyFile} exists already; choose another --name, or remove it first.`)
  // Checked before anything is written: a bad repository leaves no key behind.
  authorizedKeysLine('ssh-ed25519 AAAA', mode, repository)
  const made = await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privateKeyFile], { reject: false, stdin: 'ignore' })
  if (made.exitCode !== 0) throw new RunError(`ssh-keygen could not make ${privateKeyFile}: ${made.stderr.trim() || made.shortMessage}.`)
  const line = authorizedKeysLine((await readFile(`${privateKeyFile}.pub`, 'utf8')).trim(), mode, repository)
  await appendFile(options.authorizedKeys, `${line}\n`, { mode: 0o644 })
  const owner = await stat(dir)
  for (const file of [privateKeyFile, `${privateKeyFile}.pub`, options.authorizedKeys]) await chown(file, owner.uid, owner.gid)
  return { privateKeyFile, authorizedKeysLine: line, ...instructions(options, privateKeyFile) }
}

/**
 * The commands that put the new secret `source` where the service reads `target`. Swarm secrets
 * cannot change, and --secret-rm takes the name of the secret the service has now, whatever it is.
 */
function swapSecret(service: string, target: string, source: string, extra: string[] = []): string[] {
  const variable = target.replace(/\W/g, '_')
  return [
    `${variable}=$(docker service inspect ${service} --format '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{if eq .File.Name "${target}"}}{{.SecretName}}{{end}}{{end}}')`,
    `docker service update --detach=false --secret-rm "$${variable}" --secret-add source=${source},target=${target}${target === 'restic-ssh-privkey' ? ',mode=0400' : ''} ${[...extra, service].join(' ')}`,
  ]
}

function instructions(options: KeygenOptions, privateKeyFile: string): { instructions: string; commands: string[] } {
  const { mode, repository, name, authorizedKeys, serverService, agentService } = options
  // Relative to where keygen runs (the folder a container has mounted), for commands run in that folder.
  const shown = (file: string) => (relative(process.cwd(), file).startsWith('..') ? file : relative(process.cwd(), file))
  const stamp = new Date().toISOString().slice(0, 19).replace(/\D/g, '')
  const keysSecret = `restic-ssh-authorized-keys-${stamp}`
  const agentSettings = [
    `--env-add SERVER_MODE=${mode}`,
    ...(repository === undefined ? [] : [`--env-add REPO_PATH=${repository}`]),
    ...(mode === 'append-only' ? RETENTION_VARIABLES.map((variable) => `--env-rm ${variable}`) : []),
  ]
  const commands = [
    `docker secret create ${name} ${shown(privateKeyFile)}`,
    `docker secret create ${keysSecret} ${shown(authorizedKeys)}`,
    ...swapSecret(serverService, 'restic-ssh-authorized-keys', keysSecret),
    ...swapSecret(agentService, 'restic-ssh-privkey', name, agentSettings),
  ]
  const text = `The key reaches ${mode === 'sftp' ? `every repository over SFTP (${SFTP_COMMAND})` : `the repository ${repository} only${mode === 'append-only' ? ', append-only: it can add backups, never delete or change them' : ''}`}.
Its line is now in ${shown(authorizedKeys)}. Turn both into Swarm secrets, give the server the new list of keys
and the agent its key and settings (Swarm secrets cannot change, so each takes the old one's place):

  ${commands.join('\n  ')}

Put the same in your stack file (the agent's SERVER_MODE=${mode}${repository === undefined ? '' : ` and REPO_PATH=${repository}`}, its secret ${name} as
restic-ssh-privkey, the server's ${keysSecret} as restic-ssh-authorized-keys), or the next
docker stack deploy puts the old ones back.
`
  return { instructions: text, commands }
}
