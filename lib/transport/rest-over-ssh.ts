import { connect } from 'node:http2'
import { Duplex } from 'node:stream'
import { execa } from 'execa'
import type { SshTransport } from './ssh.js'

export interface RestAnswer {
  status: number
  /** The answer's body, cut at 64 KiB: enough for a message, never a pack. */
  body: string
}

const MAX_BODY = 64 * 1024

/**
 * One request of restic's REST protocol to the repository a confined key reaches: ssh runs the
 * key's forced command on the server (rds-serve), which serves HTTP/2 on the connection's stdin and
 * stdout. restic has no command for removing one lock file; this is how rds removes the lock of a
 * job it knows is dead. `remoteCommand` is what restic's rclone backend sends (serveArgs and the
 * REPO_PATH), which rds-serve compares with the key's repository and mode.
 */
export async function restRequest(transport: SshTransport, remoteCommand: string[], method: string, path: string, body?: Buffer, signal?: AbortSignal): Promise<RestAnswer> {
  const ssh = execa('ssh', ['-F', transport.configFile, transport.alias, ...remoteCommand], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    buffer: { stdout: false, stderr: true },
    cancelSignal: signal,
  })
  const connection = Duplex.from({ readable: ssh.stdout, writable: ssh.stdin })
  // http2 writes on its connection after the far end went away; those errors end the session, below.
  connection.on('error', () => undefined)
  const session = connect('http://rds-serve', { createConnection: () => connection })
  try {
    return await new Promise<RestAnswer>((resolve, reject) => {
      session.once('error', reject)
      void ssh.then((result) => reject(new Error(`ssh ended before the server answered: ${String(result.stderr).trim() || `exit code ${result.exitCode}`}`)))
      const request = session.request({ ':method': method, ':path': path })
      let status = 0
      let text = ''
      request.on('response', (headers) => (status = Number(headers[':status'])))
      request.setEncoding('utf8')
      request.on('data', (chunk: string) => (text = (text + chunk).slice(0, MAX_BODY)))
      request.once('end', () => resolve({ status, body: text }))
      request.once('error', reject)
      request.end(body)
    })
  } finally {
    session.destroy()
    ssh.kill('SIGTERM')
    await ssh
  }
}
