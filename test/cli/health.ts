import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { RDS, runBin } from '../fixtures/cli.js'
import { useServerAndData } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)
const rds = (args: string[], env: Record<string, string>) => runBin(RDS, args, env)

async function stateDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rds-health-'))
  t.teardown(() => rm(dir, { recursive: true }))
  return dir
}

t.test('a failed run is reported by rds status, but is not unhealthy', async (t) => {
  const statusFile = join(await stateDir(t), 'status.json')
  t.match(await rds(['health'], { STATUS_FILE: statusFile }), {
    exitCode: 1,
    stdout: 'no job has been recorded yet\nunhealthy: the agent has never written its heartbeat into STATUS_FILE: it has not started, or it hangs before its first\n',
  }, 'no heartbeat at all: an agent that never began')
  // The agent's heartbeat, as its first beat writes it; the backups below are run beside it.
  await writeFile(statusFile, JSON.stringify({ heartbeatAt: new Date().toISOString(), jobs: {} }))
  t.match(await rds(['health'], { STATUS_FILE: statusFile }), { exitCode: 0, stdout: 'no job has been recorded yet\n' })
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'health', STATUS_FILE: statusFile })
  t.equal((await rds(['backup'], env)).exitCode, 0)
  t.match(await rds(['status'], env), { exitCode: 0, stdout: /^restic-docker-swarm: OK; last success \S+; snapshot [0-9a-f]{8} \(\d+ files\), 1 in all\n$/ })

  const wrongFile = join(await stateDir(t), 'wrong')
  await writeFile(wrongFile, 'wrong\n')
  t.equal((await rds(['backup'], { ...env, RESTIC_REPO_PASSWORD_FILE: wrongFile })).exitCode, 12)
  const status = await rds(['status'], env)
  t.equal(status.exitCode, 1, 'rds status exits 1 for a failing job')
  t.match(status.stdout, /^restic-docker-swarm: FAILING; last success \S+; last run FAILED \S+ \(exit 12\): restic backup failed: the password in RESTIC_REPO_PASSWORD_FILE .* is wrong/)
  const json = JSON.parse((await rds(['status', '--json'], env)).stdout)
  t.match(json.jobs['restic-docker-swarm'], { state: 'FAILING', failuresInARow: 1, lastAttempt: { ok: false, exitCode: 12 }, lastSuccess: { ok: true } })
  t.equal((await rds(['health'], env)).exitCode, 0, 'one failed run does not make the agent unhealthy')

  t.match(await rds(['health'], {}), { exitCode: 2, stderr: /^rds: STATUS_FILE is not set; set it to the file where the agent records its runs/ })
})

t.test('a job whose schedule passes without success is OVERDUE and unhealthy, until a good run; the agent keeps running', async (t) => {
  const dir = await stateDir(t)
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'overdue', STATUS_FILE: join(dir, 'status.json'), RUN_AT: '0 0 1 1 *', OVERDUE_AFTER: '10s', LOCK_DIR: join(dir, 'locks') })
  const agent = runBin(RDS, ['agent'], env)
  t.teardown(() => void agent.kill())
  for (let i = 0; i < 50 && (await rds(['status'], env)).stdout.includes('no job'); i++) await sleep(100)
  t.match(await rds(['health'], env), { exitCode: 0, stdout: /^restic-docker-swarm: WAITING; no success yet; overdue at \S+\n$/ })
  await sleep(10_500)
  const overdue = await rds(['health'], env)
  t.equal(overdue.exitCode, 1)
  t.match(overdue.stdout, /^restic-docker-swarm: OVERDUE; no success yet; OVERDUE since \S+\nunhealthy: 1 job\(s\) OVERDUE: restic-docker-swarm\n$/)
  // The same table read by the controller's health check: OVERDUE is no reason to replace it.
  const controller = await rds(['health'], { STATUS_FILE: env.STATUS_FILE!, MODE: 'swarm' })
  t.equal(controller.exitCode, 0, 'with MODE=swarm an OVERDUE job leaves the controller healthy')
  t.match(controller.stdout, /OVERDUE since \S+\n1 job\(s\) OVERDUE \(notified, and in rds status\); the controller itself is healthy\n$/)
  t.equal((await rds(['status'], env)).exitCode, 1, 'rds status still exits 1 for it')
  t.equal((await rds(['backup'], env)).exitCode, 0, 'a good run, beside the agent')
  // Within OVERDUE_AFTER of the good run (10 s: 3 s was too short for a busy machine).
  t.match(await rds(['health'], env), { exitCode: 0, stdout: /^restic-docker-swarm: OK; last success/ })
  t.equal(agent.exitCode, null, 'the agent ran all along')
  agent.kill('SIGTERM')
  t.equal((await agent).exitCode, 0)
})

t.test("a new agent takes the last success from the repository; a silent agent is unhealthy", async (t) => {
  const dir = await stateDir(t)
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'rebuilt', RUN_AT: '0 0 1 1 *', LOCK_DIR: join(dir, 'locks') })
  t.equal((await rds(['backup'], env)).exitCode, 0, 'a backup recorded nowhere')
  const statusFile = join(dir, 'status.json')
  const agent = runBin(RDS, ['agent'], { ...env, STATUS_FILE: statusFile })
  t.teardown(() => void agent.kill())
  let status = ''
  for (let i = 0; i < 100 && !status.includes('found in the repository'); i++) {
    await sleep(100)
    status = (await rds(['status', '--json'], { STATUS_FILE: statusFile })).stdout
  }
  t.match(JSON.parse(status).jobs['restic-docker-swarm'], { state: 'OK', lastSuccess: { message: /^snapshot [0-9a-f]{8}, found in the repository$/ }, snapshots: 1, lastSnapshot: { files: Number } })
  agent.kill('SIGTERM')
  await agent

  // An OVERDUE job while another job's run is in progress (this very process): not yet unhealthy.
  const overdue = { watchedSince: '2026-01-01T00:00:00.000Z', overdueAfterSeconds: 60 }
  const running = { watchedSince: new Date().toISOString(), running: { since: new Date().toISOString(), pid: process.pid } }
  await writeFile(statusFile, JSON.stringify({ heartbeatAt: new Date().toISOString(), jobs: { old: overdue, busy: running } }))
  t.match(await rds(['health'], { STATUS_FILE: statusFile }), { exitCode: 0, stdout: /\n1 job\(s\) OVERDUE, but unhealthy only once the runs in progress have ended \(busy\)\n$/ })
  await writeFile(statusFile, JSON.stringify({ heartbeatAt: new Date().toISOString(), jobs: { old: overdue } }))
  t.equal((await rds(['health'], { STATUS_FILE: statusFile })).exitCode, 1, 'and unhealthy once no run is going')

  await writeFile(statusFile, JSON.stringify({ heartbeatAt: new Date(Date.now() - 10 * 60_000).toISOString(), jobs: {} }))
  t.match(await rds(['health'], { STATUS_FILE: statusFile }), { exitCode: 1, stdout: /unhealthy: the agent has not written STATUS_FILE since \S+: it is hung or stopped\n$/ })
})

t.test('a STATUS_FILE that cannot be read is "could not check" (exit 4), never "unhealthy" (exit 1)', async (t) => {
  const dir = await stateDir(t)
  const damaged = join(dir, 'status.json')
  await writeFile(damaged, '{"jobs": {"app": ')
  for (const command of ['health', 'status']) {
    const result = await rds([command], { STATUS_FILE: damaged })
    t.equal(result.exitCode, 4, `rds ${command}: ${result.stderr}`)
    t.match(result.stderr, /^rds: could not check: STATUS_FILE: .*JSON/)
  }
  // A folder where the file should be: the agent could not have written it either.
  t.match(await rds(['health'], { STATUS_FILE: dir }), { exitCode: 4, stderr: /^rds: could not check: STATUS_FILE: EISDIR/ })
})
