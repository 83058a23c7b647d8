// Scheduled checks (CHECK_AT) of a real repository on the real SFTP server, by rds agent: a sound
// repository passes, one with a damaged pack fails, and both are recorded and notified.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { RDS, runBin } from '../fixtures/cli.js'
import { damagePacks, serverWithRandomData } from '../fixtures/sftp-server.js'
import { readStatus } from '../../lib/observe/status-file.js'

t.test('CHECK_AT checks the repository on schedule; a damaged pack fails the check, which is recorded and notified', async (t) => {
  const { server, data } = await serverWithRandomData(t, 5, 1024 * 1024)
  const dir = await mkdtemp(join(tmpdir(), 'rds-check-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const hooks: { event: string; kind: string; message: string }[] = []
  const http = createServer(async (request, response) => {
    let body = ''
    for await (const chunk of request) body += chunk
    hooks.push(JSON.parse(body))
    response.end('OK')
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => void http.close())
  const statusFile = join(dir, 'status.json')
  const env = server.env(data, {
    REPO_PATH: 'checked',
    STATUS_FILE: statusFile,
    LOCK_DIR: join(dir, 'locks'),
    RUN_AT: '0 0 1 1 *',
    // Every three seconds, reading all the data.
    CHECK_AT: '*/3 * * * * *',
    CHECK_READ_DATA_SUBSET: '100%',
    NOTIFY_URLS: `http://127.0.0.1:${(http.address() as AddressInfo).port}/hook`,
  })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  const agent = runBin(RDS, ['agent'], env)
  t.teardown(() => void agent.kill())
  const lastCheck = async () => (await readStatus(statusFile)).jobs['restic-docker-swarm']?.lastCheck
  // Polled for up to a minute: the agent starts, then runs its check; a busy machine took over 10 s.
  for (let i = 0; i < 600 && !(await lastCheck()); i++) await sleep(100)
  t.match(await lastCheck(), { ok: true, message: /^no errors in checked on \S+ \([\d.]+ MiB on the server\)$/ })
  const [repository] = Object.values((await readStatus(statusFile)).repositories ?? {})
  t.ok(repository?.sizeBytes! > 5 * 1024 * 1024, 'the size of the repository is recorded')

  // One byte of every pack flipped on the server's disk.
  await damagePacks(join(server.home, 'checked'))
  for (let i = 0; i < 200 && (await lastCheck())?.ok !== false; i++) await sleep(100)
  t.match(await lastCheck(), { ok: false, message: /^restic check failed with exit code 1: / })
  const status = await runBin(RDS, ['status'], env)
  t.match(status.stdout, /check FAILED \S+: restic check failed/)
  t.equal(status.exitCode, 1, 'a failed check needs attention')
  t.match(status.stdout, /^restic-docker-swarm: OK;/, 'the backups themselves are fine')
  for (let i = 0; i < 50 && !hooks.some((hook) => hook.event === 'failure'); i++) await sleep(100)
  t.match(hooks.find((hook) => hook.event === 'failure'), { kind: 'check', message: /restic check failed/ }, 'the failure is notified')
  agent.kill('SIGTERM')
  t.equal((await agent).exitCode, 0)
})
