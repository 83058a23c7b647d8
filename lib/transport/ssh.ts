import { copyFile, chmod, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import SSHConfig from 'ssh-config'
import type { Logger } from '../observe/log.js'

/** The ssh client configuration restic's sftp backend uses to reach the repository server. */
export interface SshTransport {
  /** The Host name in the generated config; the repository URL names it. */
  alias: string
  configFile: string
}

export const SSH_ALIAS = 'rds-repository-server'

// ssh expands %-tokens in these paths; a literal % must be written %%.
const escapeTokens = (path: string) => path.replaceAll('%', '%%')

/**
 * ssh refuses a private key that others can read, and Swarm secrets are 0444 by default, so such a
 * key is used through a 0600 copy in the private state directory.
 */
async function usablePrivateKey(keyFile: string, stateDir: string, log: Logger): Promise<string> {
  const mode = (await stat(keyFile)).mode & 0o777
  if ((mode & 0o077) === 0) return keyFile
  const copy = join(stateDir, 'id_restic')
  await copyFile(keyFile, copy)
  await chmod(copy, 0o600)
  log.warn(
    `SSH_PRIVKEY_FILE ${keyFile} can be read by other users (mode ${mode.toString(8).padStart(4, '0')}), ` +
      `which ssh refuses; using a private copy with mode 0600 (give the secret mode 0400 to avoid this).`,
  )
  return copy
}

/** Where the server is and how to reach it (SSH_HOST, SSH_PORT, SSH_USER and the key files). */
export interface SshSettings {
  sshHost: string
  sshPort: number
  sshUser: string
  sshPrivkeyFile: string
  sshKnownHostsFile: string
}

/** The ssh config text: this server only, pinned host key, key authentication only, never a prompt. */
export function sshConfigText(config: SshSettings, identityFile: string): string {
  const sshConfig = new SSHConfig()
  sshConfig.append({
    Host: SSH_ALIAS,
    HostName: config.sshHost,
    Port: String(config.sshPort),
    User: config.sshUser,
    IdentityFile: escapeTokens(identityFile),
    IdentitiesOnly: 'yes',
    IdentityAgent: 'none',
    PreferredAuthentications: 'publickey',
    PasswordAuthentication: 'no',
    KbdInteractiveAuthentication: 'no',
    UserKnownHostsFile: escapeTokens(config.sshKnownHostsFile),
    GlobalKnownHostsFile: '/dev/null',
    StrictHostKeyChecking: 'yes',
    UpdateHostKeys: 'no',
    CheckHostIP: 'no',
    BatchMode: 'yes',
    ConnectTimeout: '30',
    ServerAliveInterval: '15',
    ServerAliveCountMax: '4',
    ForwardAgent: 'no',
    ForwardX11: 'no',
    ClearAllForwardings: 'yes',
    LogLevel: 'ERROR',
  })
  // ssh splits some values (UserKnownHostsFile takes a list) at white space: quote every such value.
  for (const line of sshConfig.flatMap((section) => ('config' in section ? [...section.config] : []))) {
    if (line.type === SSHConfig.DIRECTIVE && typeof line.value === 'string' && /\s/.test(line.value)) line.quoted = true
  }
  // restic passes these options to every sftp repository of a command, also the other end of a
  // restic copy: any other host gets the ssh configuration it would have without this file.
  sshConfig.push(...SSHConfig.parse(`\nMatch !originalhost ${SSH_ALIAS}\n  Include ~/.ssh/config /etc/ssh/ssh_config\n`))
  return SSHConfig.stringify(sshConfig)
}

/** Writes the ssh config (and a private key copy if needed) into stateDir, a 0700 directory. */
export async function prepareSshTransport(config: SshSettings, stateDir: string, log: Logger): Promise<SshTransport> {
  const identityFile = await usablePrivateKey(config.sshPrivkeyFile, stateDir, log)
  const configFile = join(stateDir, 'ssh_config')
  await writeFile(configFile, sshConfigText(config, identityFile), { mode: 0o600 })
  return { alias: SSH_ALIAS, configFile }
}
