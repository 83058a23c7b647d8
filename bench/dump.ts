// npm run bench:dump [-- --size MB --json]: a Postgres database (Debian's PostgreSQL 17, as a Swarm
// service on this machine's engine) backed up two ways to the same kind of server: the old way, a
// pre-hook that dumps into a volume, a backup of that volume, and a post-hook that removes the dump;
// and the dump streamed into restic (DUMP_COMMAND=postgres). Wall time, and the peak extra disk each
// needs on the database's node. See docs/BENCHMARKS.md.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { Command } from 'commander'
import { execa } from 'execa'
import { startSftpServer, type SftpServer } from '../test/fixtures/sftp-server.js'
import { treeSize } from './measure.js'

const RDS = fileURLToPath(new URL('../../dist/bin/rds.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SERVICE = 'rds-bench-dump-postgres'
const DUMP_VOLUME = 'rds-bench-dump-out'
const IMAGE = 'rds-test-postgres:latest'
// One row of the table: about 105 bytes in the dump.
const ROW_BYTES = 105

interface Options {
  size: number
  json: boolean
}

interface Run {
  seconds: number
  /** The largest the dump volume and restic's cache grew above where they started. */
  peakExtraDisk: number
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`)
const docker = (args: string[]) => execa('docker', args).then((result) => result.stdout.trim())

async function containerOf(service: string): Promise<string> {
  for (let i = 0; i < 240; i++) {
    const id = (await docker(['ps', '-q', '-f', `label=com.docker.swarm.service.name=${service}`, '-f', 'status=running'])).split('\n')[0]
    if (id) return id
    await sleep(250)
  }
  throw new Error(`no running container of ${service}`)
}

async function psql(sql: string): Promise<string> {
  const container = await containerOf(SERVICE)
  for (let i = 0; (await execa('docker', ['exec', container, 'pg_isready', '-U', 'postgres'], { reject: false })).exitCode !== 0; i++) {
    if (i > 240) throw new Error('postgres did not start')
    await sleep(250)
  }
  return docker(['exec', container, 'psql', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql])
}

/** Runs rds backup with `env`, sampling the size of `watched` (folders) every 100 ms. */
async function timedBackup(env: Record<string, string>, watched: string[]): Promise<Run> {
  const sizeNow = async () => (await Promise.all(watched.map((dir) => treeSize(dir).catch(() => 0)))).reduce((a, b) => a + b, 0)
  const before = await sizeNow()
  let peak = before
  const started = process.hrtime.bigint()
  const backup = execa(process.execPath, [RDS, 'backup'], { env, extendEnv: false, reject: false })
  let running = true
  const sampling = (async () => {
    while (running) {
      peak = Math.max(peak, await sizeNow())
      await sleep(100)
    }
  })()
  const result = await backup
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  running = false
  await sampling
  if (result.exitCode !== 0) throw new Error(`rds backup failed: ${result.stderr}`)
  return { seconds, peakExtraDisk: peak - before }
}

export async function runDumpBenchmark(options: Options) {
  const work = await mkdtemp(join(tmpdir(), 'rds-bench-dump-'))
  let server: SftpServer | undefined
  const cleanUp = async () => {
    await execa('docker', ['service', 'rm', SERVICE], { reject: false })
    for (let i = 0; i < 120 && (await docker(['ps', '-aq', '-f', `volume=${DUMP_VOLUME}`])) !== ''; i++) await sleep(250)
    await execa('docker', ['volume', 'rm', DUMP_VOLUME], { reject: false })
  }
  try {
    await execa('docker', ['build', '-q', '-t', IMAGE, 'test/e2e/postgres'], { cwd: ROOT })
    await cleanUp()
    await docker(['service', 'create', '--detach', '--name', SERVICE, '-e', 'POSTGRES_PASSWORD=bench', '--mount', `type=volume,src=${DUMP_VOLUME},dst=/dump`, IMAGE])
    const rows = Math.max(1, Math.round((options.size * 1e6) / ROW_BYTES))
    progress(`generating a database of ${rows} rows (about ${options.size} MB dumped)`)
    await psql(`CREATE TABLE big (n bigint, note text); INSERT INTO big SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, ${rows}) i; CHECKPOINT;`)
    const dumpDir = (await docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', DUMP_VOLUME])).trim()
    server = await startSftpServer()
    const base = (repo: string, cache: string) => ({ ...server!.env(dumpDir, { REPO_PATH: repo, SERVICE_NAME: SERVICE, PATH: process.env.PATH ?? '' }), RESTIC_CACHE_DIR: cache })

    const run = async (name: string, env: (cache: string) => Record<string, string>) => {
      const cache = join(work, `cache-${name}`)
      const initial = await timedBackup(env(cache), [dumpDir, cache])
      progress(`${name}, initial: ${initial.seconds.toFixed(1)} s, peak extra disk ${(initial.peakExtraDisk / 1e6).toFixed(1)} MB`)
      const again = await timedBackup(env(cache), [dumpDir, cache])
      progress(`${name}, again: ${again.seconds.toFixed(1)} s, peak extra disk ${(again.peakExtraDisk / 1e6).toFixed(1)} MB`)
      return { initial, again }
    }
    const toVolume = await run('dump to a volume, then back it up', (cache) => ({
      ...base('to-volume', cache),
      PRE_HOOK: 'pg_dumpall --clean --if-exists -U postgres -f /dump/all.sql',
      POST_HOOK: 'rm -f /dump/all.sql',
    }))
    const streamed = await run('dump streamed', (cache) => {
      const env: Record<string, string> = { ...base('streamed', cache), DUMP_COMMAND: 'postgres' }
      delete env.BACKUP_PATH
      return env
    })
    const dumpBytes = Number(await psql("SELECT sum(length(n::text) + length(note) + 2) FROM big"))
    return { size: options.size, rows, tableBytes: Number(await psql("SELECT pg_total_relation_size('big')")), dumpBytes, toVolume, streamed }
  } finally {
    await server?.stop()
    await cleanUp()
    await rm(work, { recursive: true, force: true })
  }
}

const program = new Command('bench-dump')
  .description('measure a Postgres backup by a dump into a volume against the dump streamed into restic')
  .option('--size <MB>', 'the size of the dump to generate', (v) => Number(v), 1000)
  .option('--json', 'print the figures as JSON')
  .action(async (options: Options) => {
    if (!(options.size > 0)) throw new Error('--size must be a positive number of MB')
    const result = await runDumpBenchmark({ ...options, json: Boolean(options.json) })
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1).padStart(8)
    const s = (seconds: number) => seconds.toFixed(1).padStart(7)
    const row = (name: string, r: Run) => `  ${name.padEnd(38)}${s(r.seconds)}  ${mb(r.peakExtraDisk)}`
    process.stdout.write(
      options.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : [
            `restic-docker-swarm dump benchmark: ${result.rows} rows, a ${mb(result.dumpBytes).trim()} MB dump of a ${mb(result.tableBytes).trim()} MB table`,
            `                                         wall s  peak extra disk MB`,
            row('dump into a volume + backup, initial', result.toVolume.initial),
            row('dump into a volume + backup, again', result.toVolume.again),
            row('dump streamed into restic, initial', result.streamed.initial),
            row('dump streamed into restic, again', result.streamed.again),
            '',
          ].join('\n'),
    )
  })

await program.parseAsync()
