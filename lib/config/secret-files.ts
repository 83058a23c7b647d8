import { readFile } from 'node:fs/promises'
import { ConfigError } from '../errors.js'

/**
 * Reads a secret file named by a variable, so that a missing or unreadable secret is reported
 * before anything runs. The contents are returned to the caller and never appear in a message.
 */
export async function readSecretFile(variable: string, path: string, what: string): Promise<string> {
  let contents: string
  try {
    contents = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new ConfigError(`${variable} is ${path}, which does not exist; create the ${what} there (usually as a Swarm secret) or point ${variable} at it.`)
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ConfigError(`${variable} is ${path}, which this user (uid ${process.getuid?.()}) cannot read; make the ${what} readable to it.`)
    }
    if (code === 'EISDIR') {
      throw new ConfigError(`${variable} is ${path}, which is a directory; point ${variable} at the ${what} file.`)
    }
    throw new ConfigError(`${variable} is ${path}, which cannot be read (${code}); point ${variable} at a readable ${what}.`)
  }
  if (contents.trim() === '') {
    throw new ConfigError(`${variable} is ${path}, which is empty; put the ${what} in it.`)
  }
  return contents
}

/** SSH_PRIVKEY_FILE holds a private key. */
export async function checkPrivateKey(file: string): Promise<void> {
  const key = await readSecretFile('SSH_PRIVKEY_FILE', file, 'SSH private key')
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw new ConfigError(`SSH_PRIVKEY_FILE is ${file}, which does not hold a private key; put the SSH private key (not the .pub file) in it.`)
  }
}

/** SSH_KNOWN_HOSTS_FILE holds at least one host key. */
export async function checkKnownHosts(file: string): Promise<void> {
  const knownHosts = await readSecretFile('SSH_KNOWN_HOSTS_FILE', file, 'known_hosts file')
  const entries = knownHosts.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
  if (entries.length === 0) {
    throw new ConfigError(`SSH_KNOWN_HOSTS_FILE is ${file}, which has no host keys; create it from the server's /etc/ssh/host_fingerprints/known_hosts.`)
  }
}

/** The checks every command makes before it talks to the repository. */
export async function checkSecretFiles(files: { sshPrivkeyFile: string; sshKnownHostsFile: string; passwordFile: string }): Promise<void> {
  await checkPrivateKey(files.sshPrivkeyFile)
  await checkKnownHosts(files.sshKnownHostsFile)
  await readSecretFile('RESTIC_REPO_PASSWORD_FILE', files.passwordFile, 'repository password')
}
