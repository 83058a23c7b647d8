import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa } from 'execa'
import { watchForStall } from '../../lib/run/stall-watch.js'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { addRandomFiles } from '../fixtures/data.js'
import { serverWithRandomData, startSftpServer } from '../fixtures/sftp-server.js'

t.test('progress that changes keeps the watch quiet; progress that stands still fires it', async (t) => {
  const watch = watchForStall(300)
  for (let i = 0; i < 6; i++) {
    watch.progress(`files ${i}`, `at file ${i}`)
    await sleep(100)
  }
  t.notOk(watch.signal.aborted, 'six changes in 600 ms, each within 300 ms')
  watch.progress('files 5', 'still at file 5')
  await sleep(450)
  t.ok(watch.signal.aborted, 'the same report for longer than the bound')
  t.equal(watch.stalledAt(), 'still at file 5')
  watch.stop()

  const quiet = watchForStall(100, 300)
  await sleep(200)
  t.notOk(quiet.signal.aborted, 'the first report may take the grace longer')
  await sleep(300)
  t.equal(quiet.stalledAt(), 'before its first progress report')
  quiet.stop()
})

/** The process and everything under it, for freezing a server in place. */
async function processTree(pid: number): Promise<number[]> {
  const children = (await execa('pgrep', ['-P', String(pid)], { reject: false })).stdout.split('\n').filter(Boolean).map(Number)
  return [pid, ...(await Promise.all(children.map(processTree))).flat()]
}

t.test('a backup to a server that stops answering is stopped after STALL_TIMEOUT and says where it stood', async (t) => {
  const { server, data } = await serverWithRandomData(t, 100, 5_000_000)
  const env = server.env(data, { REPO_PATH: 'stall', STALL_TIMEOUT: '15s' })
  t.equal((await runBin(RUNRESTIC, ['init'], env)).exitCode, 0)
  const rds = execa(process.execPath, [RDS, 'backup'], { env, extendEnv: false, reject: false, all: true, buffer: false })
  let log = ''
  rds.all.on('data', (chunk: Buffer) => (log += chunk.toString()))
  // In the middle of the backup: restic has uploaded its first packs, and has reported progress.
  const packs = async () => (await Promise.all((await readdir(join(server.home, 'stall', 'data'))).map((dir) => readdir(join(server.home, 'stall', 'data', dir))))).flat()
  for (let i = 0; i < 600 && (await packs()).length === 0; i++) await sleep(50)
  await sleep(1500)
  // The server freezes mid-backup, as a hung machine or a stuck disk does: its TCP connection stays
  // up, nothing answers.
  const frozen = await processTree(Number((await execa('pgrep', ['-f', `sshd -D -e -f ${server.dir}/sshd_config`])).stdout.trim()))
  for (const pid of frozen) process.kill(pid, 'SIGSTOP')
  t.teardown(() => frozen.forEach((pid) => process.kill(pid, 'SIGCONT')))
  const result = await rds
  t.equal(result.exitCode, 1)
  t.match(log, /WARN  backup: restic backup made no progress for 15 s \(at [\d.]+ MiB of [\d.]+ MiB, \d+ of 100 files, reading \S+random-\d+\.bin\); stopping it/, 'said at once')
  t.match(log, /ERROR restic backup made no progress for 15 s \(at .*\) and was stopped; the server may be out of disk space or unreachable \(STALL_TIMEOUT sets how long to wait\)\./)
  t.notMatch(log, /message_type/, 'no raw JSON')
})

const rootOnly = process.getuid?.() !== 0 && 'needs root to mount a small file system'
t.test('a backup into a full repository disk fails with a sentence and leaves no lock', { skip: rootOnly }, async (t) => {
  const server = await startSftpServer()
  t.teardown(() => server.stop())
  const full = join(server.home, 'full')
  await mkdir(full)
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', full])
  t.teardown(() => execa('umount', ['-l', full], { reject: false }))
  const data = await mkdtemp(join(tmpdir(), 'rds-full-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  await addRandomFiles(data, 12, 5_000_000)
  const result = await runBin(RDS, ['backup'], server.env(data, { REPO_PATH: 'full/repo', STALL_TIMEOUT: '20s' }))
  t.equal(result.exitCode, 1, result.stderr)
  t.match(result.stderr, /ERROR restic backup failed with exit code 1: unable to save snapshot: sftp: no space left on device\./)
  t.notMatch(result.stderr, /message_type/, 'no raw JSON')
  t.same(await readdir(join(full, 'repo', 'locks')), [], 'no lock left behind')
})
