import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { readConfig } from '../../lib/config/environment.js'
import { probeSsh } from '../../lib/transport/ssh-probe.js'
import { prepareSshTransport } from '../../lib/transport/ssh.js'
import { captureLogger } from '../fixtures/log.js'
import { keygen, startSftpServer, type SftpServer } from '../fixtures/sftp-server.js'

let server: SftpServer
t.before(async () => {
  server = await startSftpServer()
})
t.teardown(() => server.stop())

async function transport(t: Test, env: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'rds-probe-'))
  t.teardown(() => rm(dir, { recursive: true }))
  return prepareSshTransport(readConfig(server.env('/tmp', env)), dir, captureLogger().log)
}

t.test('a good key opens the sftp subsystem and ssh says nothing', async (t) => {
  t.same(await probeSsh(await transport(t)), [])
})

t.test("a refused key: the probe returns ssh's own reason", async (t) => {
  const stranger = join(server.dir, 'id_probe_stranger')
  await keygen(stranger)
  const lines = await probeSsh(await transport(t, { SSH_PRIVKEY_FILE: stranger }))
  t.match(lines.join('\n'), /Permission denied \(publickey\)/)
})
