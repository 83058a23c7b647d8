// Locks left in the repository by killed runs, on the real SFTP server. Each "other container" is
// a process in a UTS namespace of its own (unshare -u), with its own host name, as a container has.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa, type ResultPromise } from 'execa'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { serverWithRandomData } from '../fixtures/sftp-server.js'
import { addRandomFiles } from '../fixtures/data.js'
import { captureLogger } from '../fixtures/log.js'
import { openWorkspace } from '../../lib/restic/workspace.js'
import { checkRepository } from '../../lib/restic/check.js'
import type { Restic } from '../../lib/restic/command.js'
import { withLockCare } from '../../lib/run/stale-locks.js'

/** rds or runrestic in a new UTS namespace, under another host name; its own process group, for SIGKILL. */
function inOtherContainer(host: string, bin: string, args: string[], env: Record<string, string>): ResultPromise {
  return execa('unshare', ['-u', 'sh', '-c', 'hostname "$0"; exec "$@"', host, process.execPath, bin, ...args], { env, extendEnv: false, reject: false, detached: true })
}

/**
 * Kills the "container" as `docker kill` does: every process of it at once. restic runs in a
 * process group of its own, found by the rate limit only this test's restic has.
 */
async function killContainer(process: ResultPromise, resticMarker: string): Promise<void> {
  // The marker as a whole word: other test files, running beside this one, slow their restic too.
  await execa('pkill', ['-KILL', '-f', '--', `${resticMarker}( |$)`], { reject: false })
  try {
    globalThis.process.kill(-process.pid!, 'SIGKILL')
  } catch (error) {
    // ESRCH: its rds or runrestic already ended, with its restic.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
  await process
}

async function locks(env: Record<string, string>): Promise<{ id: string; hostname: string }[]> {
  const ids = (await runBin(RUNRESTIC, ['list', 'locks', '--no-lock'], env)).stdout.split('\n').filter(Boolean)
  const found = []
  for (const id of ids) {
    const lock = await runBin(RUNRESTIC, ['cat', 'lock', id, '--no-lock'], env)
    if (lock.exitCode === 0) found.push({ id, ...(JSON.parse(lock.stdout) as { hostname: string }) })
  }
  return found
}

/** Waits until the process has locked the repository; fails with its output if it ends first. */
async function untilLocked(env: Record<string, string>, host: string, process: ResultPromise): Promise<void> {
  let ended: { stderr?: unknown } | undefined
  void process.then((result) => (ended = result))
  for (let i = 0; i < 300 && !ended; i++) {
    if ((await locks(env)).some((lock) => lock.hostname === host)) return
    await sleep(100)
  }
  throw new Error(`no lock of ${host} appeared: ${String(ended?.stderr ?? 'the process is still running')}`)
}

t.test('the lock of a run killed in another container is removed by the next run, which succeeds', async (t) => {
  const { server, data } = await serverWithRandomData(t, 10, 1024 * 1024)
  const dir = await mkdtemp(join(tmpdir(), 'rds-stale-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // The status and the repository outlive the container; the run lock does not (it is in /tmp).
  const env = server.env(data, { REPO_PATH: 'stale', STATUS_FILE: join(dir, 'status.json'), KEEP_LAST: '3' })
  // Slowed to 100 KiB/s, so that it is surely killed mid-backup.
  const killed = inOtherContainer('old-container', RDS, ['backup'], { ...env, LOCK_DIR: join(dir, 'locks-old'), BACKUP_ARGS: '--limit-upload 97' })
  await untilLocked(env, 'old-container', killed)
  await killContainer(killed, '--limit-upload 97')
  t.match(await locks(env), [{ hostname: 'old-container' }], 'SIGKILL left its lock')

  const recorded = await readFile(join(dir, 'status.json'), 'utf8').catch((error: Error) => error.message)
  const next = await runBin(RDS, ['backup'], { ...env, LOCK_DIR: join(dir, 'locks-new') })
  t.equal(next.exitCode, 0, `${next.stderr}\nSTATUS_FILE before it: ${recorded}\nlocks: ${JSON.stringify(await locks(env))}`)
  t.match(next.stderr, /WARN\s+locks: removed the lock [0-9a-f]{8} of root@old-container \(process \d+, \S+\): made by a run of restic-docker-swarm in container old-container that started at \S+ and never ended \(it was killed\)/)
  t.match(next.stderr, /INFO\s+locks: trying again[\s\S]*retention: done/, 'retention, which the lock blocked, ran after it was removed')
  t.same(await locks(env), [], 'no lock is left')
  t.equal((await runBin(RUNRESTIC, ['check'], env)).exitCode, 0, 'the repository checks clean')
})

t.test('a lock held by a live process elsewhere is waited for up to RETRY_LOCK, never removed', async (t) => {
  const { server, data } = await serverWithRandomData(t, 4, 4 * 1024 * 1024)
  const dir = await mkdtemp(join(tmpdir(), 'rds-live-lock-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const env = server.env(data, { REPO_PATH: 'live', STATUS_FILE: join(dir, 'status.json'), KEEP_LAST: '3', RETRY_LOCK: '3s', LOCK_DIR: join(dir, 'locks') })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0, 'a first backup')
  // Another host's backup of other data, slowed to 20 KiB/s: alive, and holding its lock, for minutes.
  const other = await mkdtemp(join(tmpdir(), 'rds-live-data-'))
  t.teardown(() => rm(other, { recursive: true, force: true }))
  await addRandomFiles(other, 1, 4 * 1024 * 1024)
  const live = inOtherContainer('live-host', RUNRESTIC, ['backup', '--limit-upload', '23', '--host', 'other', other], env)
  // SIGKILL: restic takes a rate-limited upload to its end before it heeds SIGTERM.
  t.teardown(() => (live.exitCode === null ? killContainer(live, '--limit-upload 23') : undefined))
  await untilLocked(env, 'live-host', live)

  const blocked = await runBin(RDS, ['backup'], env)
  t.equal(blocked.exitCode, 11, 'retention could not lock the repository')
  t.match(blocked.stderr, /backup: snapshot [0-9a-f]{8} saved/, 'the backup itself was not blocked')
  t.match(blocked.stderr, /INFO\s+locks: the lock [0-9a-f]{8} of root@live-host \(process \d+, \S+\) is held by a live process, or one that may be: it is left alone/)
  t.match(blocked.stderr, /locks: waiting up to 3s \(RETRY_LOCK\) for the live lock/)
  t.notMatch(blocked.stderr, /locks: removed/)
  t.match(await locks(env), [{ hostname: 'live-host' }], 'the live lock is still there')
  t.equal(live.exitCode, null, 'and its backup still runs')
  await killContainer(live, '--limit-upload 23')
})

t.test('a lock whose owner dies while a check waits for it is removed at the next round, not after RETRY_LOCK', async (t) => {
  const { server, data } = await serverWithRandomData(t, 4, 4 * 1024 * 1024)
  const env = server.env(data, { REPO_PATH: 'dies' })
  t.equal((await runBin(RUNRESTIC, ['init'], env)).exitCode, 0, 'a repository')
  // Another host's backup, slowed to 20 KiB/s: alive, and holding its lock, until it is killed.
  const owner = inOtherContainer('dying-host', RUNRESTIC, ['backup', '--limit-upload', '23', data], env)
  t.teardown(() => (owner.exitCode === null ? killContainer(owner, '--limit-upload 23') : undefined))
  await untilLocked(env, 'dying-host', owner)

  // The controller's check: its owner judge knows the owner is dead once it was killed.
  const { log, text } = captureLogger()
  const workspace = await openWorkspace(env, log)
  t.teardown(() => workspace.close())
  const restic: Restic = { binary: 'restic', repository: workspace.repository, retryLock: '10m' }
  let killed = false
  const check = withLockCare(restic, async (lock) => (killed && lock.hostname === 'dying-host' ? 'its owner was killed' : undefined), log, (locking) => checkRepository(locking, undefined, log))
  let settled = false
  check.then(() => undefined, () => undefined).finally(() => (settled = true))
  // A check that ends before it waits (it failed) is a failure here, not a wait for tap's timeout.
  while (!settled && !/locks: waiting up to 10m/.test(text())) await sleep(100)
  t.notOk(settled, `the check waits for the live lock: ${text()}`)
  t.match(text(), /locks: the lock [0-9a-f]{8} of root@dying-host \(process \d+, \S+\) is held by a live process, or one that may be: it is left alone/, 'the live lock is left alone')
  t.match(text(), /locks: waiting up to 10m \(RETRY_LOCK\) for the live lock, judging its owner again every 20 s/)
  await killContainer(owner, '--limit-upload 23')
  killed = true

  await check
  t.match(text(), /WARN\s+locks: removed the lock [0-9a-f]{8} of root@dying-host \(process \d+, \S+\): its owner was killed[\s\S]*locks: trying again/)
  t.equal(text().match(/is held by a live process/g)?.length, 1, 'the live lock was said to be left alone once')
  t.same(await locks(env), [], 'no lock is left')
})
