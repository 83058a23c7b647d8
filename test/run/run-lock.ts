import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { execa } from 'execa'
import { RunError } from '../../lib/errors.js'
import { takeRunLock } from '../../lib/run/run-lock.js'
import { RDS, runBin } from '../fixtures/cli.js'
import { captureLogger } from '../fixtures/log.js'
import { useServerAndData } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)
const RUN_LOCK = fileURLToPath(new URL('../../dist/lib/run/run-lock.js', import.meta.url))

t.test('a held lock refuses a second run with one sentence, and is free again once released', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-lock-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { log } = captureLogger()
  const release = await takeRunLock(dir, 'repo\nhost\n/backup', 'app_db', log)
  const refused = await takeRunLock(dir, 'repo\nhost\n/backup', 'app_db', log).catch((error) => error)
  t.type(refused, RunError)
  t.equal(refused.exitCode, 11)
  t.match(refused.message, new RegExp(`^another run of app_db is in progress \\(process ${process.pid}, since \\d{4}-\\S+\\); this one was not started: wait for it to finish\\.$`))
  const other = await takeRunLock(dir, 'repo\nhost\n/other', 'other', log)
  await other()
  await release()
  await (await takeRunLock(dir, 'repo\nhost\n/backup', 'app_db', log))()
})

t.test('the lock of a process of this host that died (SIGKILL) is taken over at once, by one run; one held elsewhere only once stale', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-lock-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const hold = async () => {
    const holder = execa(process.execPath, [
      '--input-type=module',
      '-e',
      `const { takeRunLock } = await import(${JSON.stringify(RUN_LOCK)}); await takeRunLock(process.argv[1], 'job', 'app', { warn() {} }, 2000); console.log('locked'); setInterval(() => {}, 1000)`,
      dir,
    ], { reject: false, buffer: false })
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()))
    // Wrapped: a subprocess is a promise, and would be awaited to its end.
    return { holder }
  }
  const { holder } = await hold()
  holder.kill('SIGKILL')
  await holder
  const { log, text } = captureLogger()
  // Two runs right after the death: one takes the lock over, the other finds it held by the first.
  const [first, second] = await Promise.allSettled([takeRunLock(dir, 'job', 'app', log, 2000), takeRunLock(dir, 'job', 'app', log, 2000)])
  const taken = [first, second].filter((result) => result.status === 'fulfilled')
  t.equal(taken.length, 1, 'exactly one run took it over')
  t.match([first, second].find((result) => result.status === 'rejected'), { reason: { exitCode: 11, message: new RegExp(`another run of app is in progress \\(process ${process.pid}, `) } })
  t.match(text(), new RegExp(`WARN\\s+run lock: taken over from process ${holder.pid}, which held it since \\S+ and is gone \\(killed\\)`))
  await (taken[0] as PromiseFulfilledResult<() => Promise<void>>).value()

  // The same lock, held by a process on another host (a LOCK_DIR shared between containers): its pid means nothing here.
  const { holder: elsewhere } = await hold()
  const ownerFile = (await readdir(dir)).find((name) => name.endsWith('.owner.json'))!
  const owner = JSON.parse(await readFile(join(dir, ownerFile), 'utf8'))
  await writeFile(join(dir, ownerFile), JSON.stringify({ ...owner, hostname: 'another-container' }))
  elsewhere.kill('SIGKILL')
  await elsewhere
  await t.rejects(takeRunLock(dir, 'job', 'app', log, 2000), { name: 'RunError', message: /another run of app is in progress/ }, 'still held right after the death')
  await sleep(3000)
  const release = await takeRunLock(dir, 'job', 'app', log, 2000)
  t.pass('taken over once stale')
  await release()
})

t.test('two rds backup of one job at once never overlap: the second is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-lock-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // A restic that takes 3 s longer for each backup and records when each began and ended.
  const record = join(dir, 'record')
  const real = (await execa('which', ['restic'])).stdout
  const slow = join(dir, 'restic')
  await writeFile(
    slow,
    `#!/bin/sh\ncase " $* " in *" backup "*) echo "start $(date +%s.%N)" >> ${record}; sleep 3; ${real} "$@"; code=$?; echo "end $(date +%s.%N)" >> ${record}; exit $code;; esac\nexec ${real} "$@"\n`,
    { mode: 0o755 },
  )
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'run-lock', RESTIC_BINARY: slow, LOCK_DIR: join(dir, 'locks'), STATUS_FILE: join(dir, 'status.json') })
  // The second run and the status read start once the first run's restic backup has begun (it then
  // holds the lock for 3 s more), however long the first took to get there.
  const began = async () => {
    for (let i = 0; !(await readFile(record, 'utf8').catch(() => '')).includes('start'); i++) {
      if (i > 600) throw new Error('the first run never began its restic backup')
      await sleep(100)
    }
  }
  const [first, second, health] = await Promise.all([
    runBin(RDS, ['backup'], env),
    began().then(() => runBin(RDS, ['backup'], env)),
    began().then(() => runBin(RDS, ['status'], env)),
  ])
  t.match(health.stdout, /^restic-docker-swarm: RUNNING; running since \d{4}-\S+; no success yet\n$/, 'the status shows the run in progress')
  t.equal(first.exitCode, 0, first.stderr)
  t.equal(second.exitCode, 11)
  t.match(second.stderr, /another run of restic-docker-swarm is in progress \(process \d+, since \S+\); this one was not started/)
  t.notMatch(second.stderr, /run: starting/, 'the refused run did nothing')
  const third = await runBin(RDS, ['backup'], env)
  t.equal(third.exitCode, 0, 'the lock is free again after the first run')
  t.match((await runBin(RDS, ['status'], env)).stdout, /^restic-docker-swarm: OK; last success \S+; snapshot [0-9a-f]{8} \(\d+ files\), 2 in all\n$/, 'the refused run left the status alone')
  const events = (await readFile(record, 'utf8')).trim().split('\n')
  const kinds = events.map((line) => line.split(' ')[0])
  // The first run backs up twice (the first try finds no repository and creates it), the third once.
  t.same(kinds, ['start', 'end', 'start', 'end', 'start', 'end'], 'one restic backup at a time, never two started in a row')
})
