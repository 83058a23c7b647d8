// STOP_DURING_BACKUP=pause on real parts: a Swarm service on this engine is paused (docker pause)
// while rds backup saves its data to the real SFTP server, and is always unpaused: after a good
// backup, a failed one, SIGTERM mid-backup, and a run killed before it could unpause.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa } from 'execa'
import { RDS, runBin } from '../fixtures/cli.js'
import { addRandomFiles } from '../fixtures/data.js'
import { startSftpServer, type SftpServer } from '../fixtures/sftp-server.js'
import { useHostEngine } from '../fixtures/docker.js'
import { readStatus } from '../../lib/observe/status-file.js'

const SERVICE = 'rds-test-pause'
const IMAGE = 'debian:trixie-slim'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const docker = (args: string[]) => execa('docker', args).then((result) => result.stdout.trim())
const paused = async (container: string) => (await docker(['inspect', '-f', '{{.State.Paused}}', container])) === 'true'

/** Samples the container's state every 50 ms until `until` settles: was it ever seen paused? */
async function seenPaused<T>(container: string, until: Promise<T>): Promise<{ result: T; sawPause: boolean }> {
  let done = false
  let sawPause = false
  const watching = (async () => {
    while (!done) {
      if (await paused(container).catch(() => false)) sawPause = true
      await sleep(50)
    }
  })()
  const result = await until.finally(() => (done = true))
  await watching
  return { result, sawPause }
}

t.test('STOP_DURING_BACKUP=pause', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  let server: SftpServer
  let data: string
  let container: string
  t.before(async () => {
    await execa('docker', ['service', 'rm', SERVICE], { reject: false })
    await docker(['service', 'create', '--detach', '--name', SERVICE, '--init', IMAGE, 'sleep', 'infinity'])
    for (let i = 0; i < 240 && !container; i++) {
      container = (await docker(['ps', '-q', '-f', `label=com.docker.swarm.service.name=${SERVICE}`, '-f', 'status=running'])).split('\n')[0]!
      if (!container) await sleep(250)
    }
    server = await startSftpServer()
    data = await mkdtemp(join(tmpdir(), 'rds-pause-'))
    // Enough that the backup takes a moment, with the pause around it.
    await addRandomFiles(data, 40, 512 * 1024)
  })
  t.teardown(async () => {
    await execa('docker', ['service', 'rm', SERVICE], { reject: false })
    await server?.stop()
    if (data) await rm(data, { recursive: true, force: true })
  })
  const env = (extra: Record<string, string> = {}) =>
    server.env(data, { REPO_PATH: 'paused', SERVICE_NAME: SERVICE, STOP_DURING_BACKUP: 'pause', PATH: process.env.PATH ?? '', ...extra })

  t.test('paused for the backup, after the pre-hook and before the post-hook, and unpaused after it; the downtime is recorded', async (t) => {
    const statusFile = join(data, '..', `rds-pause-status-${process.pid}.json`)
    t.teardown(() => rm(statusFile, { force: true }))
    const run = runBin(RDS, ['backup'], env({ PRE_HOOK: 'echo before the pause', POST_HOOK: 'echo after the pause', STATUS_FILE: statusFile }))
    const { result, sawPause } = await seenPaused(container, run)
    t.equal(result.exitCode, 0, result.stderr)
    t.ok(sawPause, 'the container was paused during the run')
    t.notOk(await paused(container), 'and is not paused after it')
    t.match(result.stderr, /pre-hook: before the pause[\s\S]*stop: paused 1 container\(s\) of rds-test-pause on \S+ for the backup[\s\S]*backup: snapshot [0-9a-f]{8} saved[\s\S]*stop: unpaused 1 container\(s\) of rds-test-pause after [\d.]+ s \(downtime [\d.]+ s\)[\s\S]*post-hook: after the pause/)
    const downtime = Number(/\(downtime ([\d.]+) s\)/.exec(result.stderr)![1])
    t.ok(downtime > 0, 'a downtime')
    t.equal((await readStatus(statusFile)).jobs[SERVICE]?.lastDowntimeSeconds?.toFixed(1), downtime.toFixed(1), 'in STATUS_FILE, for rds_last_downtime_seconds')
  })

  t.test('unpaused after a failed backup', async (t) => {
    const wrongPassword = join(data, '..', `rds-pause-wrong-${process.pid}`)
    await writeFile(wrongPassword, 'not the password\n')
    t.teardown(() => rm(wrongPassword, { force: true }))
    const { result, sawPause } = await seenPaused(container, runBin(RDS, ['backup'], env({ RESTIC_REPO_PASSWORD_FILE: wrongPassword })))
    t.equal(result.exitCode, 12, result.stderr)
    t.ok(sawPause)
    t.match(result.stderr, /stop: unpaused 1 container\(s\) of rds-test-pause/)
    t.notOk(await paused(container))
  })

  t.test('unpaused after SIGTERM mid-backup', async (t) => {
    // A slow upload: 200 KiB/s for 20 MiB.
    const run = execa(process.execPath, [RDS, 'backup'], { env: env({ REPO_PATH: 'paused-slow', BACKUP_ARGS: '--limit-upload 200' }), extendEnv: false, reject: false })
    for (let i = 0; i < 200 && !(await paused(container)); i++) await sleep(100)
    t.ok(await paused(container), 'paused mid-backup')
    run.kill('SIGTERM')
    const result = await run
    t.equal(result.exitCode, 130, result.stderr)
    t.match(result.stderr, /stop: unpaused 1 container\(s\) of rds-test-pause/)
    t.notOk(await paused(container), 'unpaused')
  })

  t.test('a container left paused by a run that was killed is unpaused by the next run', async (t) => {
    await docker(['pause', container])
    const result = await runBin(RDS, ['backup'], env({ PRE_HOOK: 'echo the hook runs' }))
    t.equal(result.exitCode, 0, result.stderr)
    t.match(result.stderr, /WARN  stop: container [0-9a-f]{12} of rds-test-pause was left paused by an earlier run that was killed; unpausing it[\s\S]*pre-hook: the hook runs/)
    t.notOk(await paused(container))
  })

  t.test('a service with no container here to pause: no backup, and a clear error', async (t) => {
    const result = await runBin(RDS, ['backup'], env({ SERVICE_NAME: 'rds-no-such-service' }))
    t.equal(result.exitCode, 1)
    t.match(result.stderr, /ERROR STOP_DURING_BACKUP=pause \(rds\.backup\.stop=pause\): service rds-no-such-service has no running container on this node \(\S+\) to pause; the backup was not taken\./)
    t.notMatch(result.stderr, /snapshot [0-9a-f]{8} saved/)
  })
})
