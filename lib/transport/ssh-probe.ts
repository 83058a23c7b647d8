import { execa } from 'execa'
import type { SshTransport } from './ssh.js'

// restic sometimes ends ssh before ssh has printed why it failed (for example "Permission
// denied"); when restic only reports that the sftp session did not start, this asks ssh itself.
export const SFTP_START_FAILED = /unable to start the sftp session/

/**
 * Connects once with the same ssh config and opens the sftp subsystem with no input, so that it
 * closes at once; resolves to what ssh printed on stderr.
 */
export async function probeSsh(transport: SshTransport, signal?: AbortSignal): Promise<string[]> {
  const result = await execa('ssh', ['-F', transport.configFile, transport.alias, '-s', 'sftp'], {
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
    cancelSignal: signal,
  })
  return result.stderr.split('\n').filter((line) => line.trim() !== '')
}
