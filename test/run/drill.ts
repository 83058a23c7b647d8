// Restore drills on real parts: a real Postgres (Debian's PostgreSQL 17, test/e2e/postgres) dumped
// with pg_dumpall, backed up to the real SFTP server, restored by rds drill and loaded into a
// throwaway Postgres by the drill command; then a failing command, and a damaged pack.
import { watch } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa } from 'execa'
import { readStatus } from '../../lib/observe/status-file.js'
import { RDS, runBin } from '../fixtures/cli.js'
import { damagePacks, startSftpServer } from '../fixtures/sftp-server.js'
import { useHostEngine } from '../fixtures/docker.js'
import { ROOT } from '../fixtures/root.js'

const IMAGE = 'rds-test-postgres:latest'
const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

// A throwaway Postgres on the restored dump: every row must come back.
const LOAD_DUMP = [
  'runuser -u postgres -- initdb -D /tmp/pg --auth-local=trust >/dev/null',
  "runuser -u postgres -- pg_ctl -D /tmp/pg -o '-k /tmp -c listen_addresses=' -w start >/dev/null",
  'psql -h /tmp -U postgres -q -f all.sql >/dev/null 2>&1',
  'rows=$(psql -h /tmp -U postgres -Atc "SELECT count(*), sum(n) FROM rows_to_keep")',
  'echo "restored: $rows"',
  'test "$rows" = "1000|500500"',
].join(' && ')

t.test('a drill of a Postgres dump passes; a failing drill command and a damaged pack fail it', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  await execa('docker', ['build', '-q', '-t', IMAGE, 'test/e2e/postgres'], { cwd: ROOT })
  const dir = await mkdtemp(join(tmpdir(), 'rds-drill-'))
  const server = await startSftpServer()
  t.teardown(async () => {
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  })

  // A database with 1000 rows, dumped as a pre-hook would.
  const db = (await execa('docker', ['run', '-d', '-e', 'POSTGRES_PASSWORD=drill', IMAGE])).stdout.trim()
  t.teardown(() => execa('docker', ['rm', '-f', db], { reject: false }))
  for (let i = 0; i < 300 && (await execa('docker', ['exec', db, 'psql', '-U', 'postgres', '-c', 'select 1'], { reject: false })).exitCode !== 0; i++) await sleep(100)
  await execa('docker', ['exec', db, 'psql', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', 'CREATE TABLE rows_to_keep (n int); INSERT INTO rows_to_keep SELECT generate_series(1, 1000);'])
  const data = join(dir, 'dump')
  await execa('mkdir', [data])
  await writeFile(join(data, 'all.sql'), (await execa('docker', ['exec', db, 'pg_dumpall', '-U', 'postgres'])).stdout)

  const statusFile = join(dir, 'status.json')
  const env = server.env(data, { REPO_PATH: 'drilled', STATUS_FILE: statusFile, DRILL_IMAGE: IMAGE, DRILL_COMMAND: LOAD_DUMP, PATH: process.env.PATH ?? '' })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)

  // Nothing staged on this machine's disk: the scratch folders made in TMPDIR meanwhile are seen.
  const scratch = join(dir, 'tmp')
  await mkdir(scratch)
  const made: string[] = []
  const watcher = watch(scratch, (_event, name) => void (name && made.push(name)))
  const passed = await runBin(RDS, ['drill', '--verbose'], { ...env, TMPDIR: scratch })
  watcher.close()
  t.equal(passed.exitCode, 0, passed.stderr)
  t.same(made.filter((name) => name.startsWith('rds-volume-')), [], 'no scratch folder for the snapshot')
  t.match(passed.stderr, /drill: restic-docker-swarm: snapshot [0-9a-f]{8} read: all 1 files, with their sizes; the drill command passed/)
  t.match(passed.stderr, /DEBUG drill: restored: 1000\|500500/, "the drill command's output is in the verbose log")
  t.match((await readStatus(statusFile)).jobs['restic-docker-swarm']?.lastDrill, { ok: true })
  t.equal((await execa('docker', ['ps', '-aq', '--filter', 'label=restic-docker-swarm.helper=drill'])).stdout, '', 'the throwaway container is removed')

  const wrongCount = await runBin(RDS, ['drill'], { ...env, DRILL_COMMAND: LOAD_DUMP.replace('1000|500500', '999|0') })
  t.equal(wrongCount.exitCode, 1)
  t.match(wrongCount.stderr, /ERROR drill: restic-docker-swarm: the drill command exited with 1: .*restored: 1000\|500500/)
  t.match(await runBin(RDS, ['status'], env), { exitCode: 1, stdout: /drill FAILED \S+: the drill command exited with 1/ })

  const restored = await runBin(RDS, ['drill'], { ...env, DRILL_COMMAND: '' })
  t.equal(restored.exitCode, 0, restored.stderr)
  t.match(restored.stderr, /drill: restic-docker-swarm: snapshot [0-9a-f]{8} restored: all 1 files present, with their sizes\n/, 'without a command, a restore into a scratch folder')

  // One byte of every pack flipped on the server's disk.
  await damagePacks(join(server.home, 'drilled'), 50)
  const damaged = await runBin(RDS, ['drill'], env)
  t.equal(damaged.exitCode, 1)
  t.match(damaged.stderr, /ERROR drill: restic-docker-swarm: restic (ls|dump) failed/)
  t.match((await readStatus(statusFile)).jobs['restic-docker-swarm']?.lastDrill, { ok: false, message: /restic (ls|dump) failed/ })
  const damagedRestore = await runBin(RDS, ['drill'], { ...env, DRILL_COMMAND: '' })
  t.match(damagedRestore, { exitCode: 1, stderr: /ERROR drill: restic-docker-swarm: restic (restore|ls) failed/ })
})
