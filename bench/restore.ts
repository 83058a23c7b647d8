// npm run bench:restore [-- --size MB --json]: a folder of random files backed up to a local sshd,
// then restored into a Docker volume of this machine's engine two ways: `rds restore --to-volume`
// of the single-service mode, which restores into a temporary folder and copies it into the volume
// through a helper container; and restic restoring straight into the volume's folder, as the job of
// `rds restore --service` and of `rds restore --to-volume` with MODE=swarm does on the volume's node.
// Wall time, and the peak extra disk each needs beside the volume. See docs/BENCHMARKS.md.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { Command } from 'commander'
import { execa } from 'execa'
import { startSftpServer } from '../test/fixtures/sftp-server.js'
import { generateDataset } from './dataset.js'
import { treeSize } from './measure.js'

const RDS = fileURLToPath(new URL('../../dist/bin/rds.js', import.meta.url))
const VOLUMES = { staged: 'rds-bench-restore-staged', direct: 'rds-bench-restore-direct' }
// The helper image of the staged way: the agent's own, built by images/build.
const HELPER_IMAGE = 'restic-docker-swarm-agent:latest'

interface Options {
  size: number
  json: boolean
}

interface Run {
  seconds: number
  /** The most that the temporary folder and restic's cache grew above where they started. */
  peakExtraDisk: number
  /** What the volume holds afterwards, in bytes: the same as the data, or the run is wrong. */
  restoredBytes: number
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`)
const docker = (args: string[]) => execa('docker', args).then((result) => result.stdout.trim())

/** Runs rds with `env`, sampling the size of `watched` (folders) every 100 ms. */
async function timed(args: string[], env: Record<string, string>, watched: string[], volume: string): Promise<Run> {
  const sizeNow = async () => (await Promise.all(watched.map((dir) => treeSize(dir).catch(() => 0)))).reduce((a, b) => a + b, 0)
  const before = await sizeNow()
  let peak = before
  const started = process.hrtime.bigint()
  const restore = execa(process.execPath, [RDS, ...args], { env, extendEnv: false, reject: false })
  let running = true
  const sampling = (async () => {
    while (running) {
      peak = Math.max(peak, await sizeNow())
      await sleep(100)
    }
  })()
  const result = await restore
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  running = false
  await sampling
  if (result.exitCode !== 0) throw new Error(`rds ${args.join(' ')} failed: ${result.stderr}`)
  const restoredBytes = await treeSize(await docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', volume]))
  return { seconds, peakExtraDisk: peak - before, restoredBytes }
}

export async function runRestoreBenchmark(options: Options) {
  const work = await mkdtemp(join(tmpdir(), 'rds-bench-restore-'))
  const server = await startSftpServer()
  const removeVolumes = () => execa('docker', ['volume', 'rm', '--force', ...Object.values(VOLUMES)], { reject: false })
  try {
    await removeVolumes()
    const data = join(work, 'data')
    progress(`generating ${options.size} MB of data`)
    await generateDataset(data, options.size * 1e6, 1)
    const dataBytes = await treeSize(data)
    const env = (name: string) => ({ ...server.env(data, { REPO_PATH: 'restore', SNAPSHOT_HOST: 'bench', PATH: process.env.PATH ?? '' }), RESTIC_CACHE_DIR: join(work, `cache-${name}`), TMPDIR: join(work, `tmp-${name}`) })
    for (const name of ['backup', 'staged', 'direct']) await mkdir(join(work, `tmp-${name}`))
    const backup = await execa(process.execPath, [RDS, 'backup'], { env: env('backup'), extendEnv: false, reject: false })
    if (backup.exitCode !== 0) throw new Error(`rds backup failed: ${backup.stderr}`)
    const watched = (name: string) => [join(work, `cache-${name}`), join(work, `tmp-${name}`)]
    progress('restoring through a temporary folder (rds restore --to-volume, single-service mode)')
    const staged = await timed(['restore', `latest:${data}`, '--to-volume', VOLUMES.staged], { ...env('staged'), HELPER_IMAGE }, watched('staged'), VOLUMES.staged)
    progress(`staged: ${staged.seconds.toFixed(1)} s, peak extra disk ${(staged.peakExtraDisk / 1e6).toFixed(1)} MB`)
    progress('restoring straight into the volume (the Swarm job of rds restore --service and --to-volume)')
    await docker(['volume', 'create', VOLUMES.direct])
    const mountpoint = await docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', VOLUMES.direct])
    const direct = await timed(['restore', `latest:${data}`, '--target', mountpoint], env('direct'), watched('direct'), VOLUMES.direct)
    progress(`direct: ${direct.seconds.toFixed(1)} s, peak extra disk ${(direct.peakExtraDisk / 1e6).toFixed(1)} MB`)
    for (const [name, run] of Object.entries({ staged, direct })) {
      if (run.restoredBytes !== dataBytes) throw new Error(`the ${name} restore holds ${run.restoredBytes} bytes, not the data's ${dataBytes}`)
    }
    return { size: options.size, dataBytes, staged, direct }
  } finally {
    await server.stop()
    await removeVolumes()
    await rm(work, { recursive: true, force: true })
  }
}

const program = new Command('bench-restore')
  .description('measure a restore into a Docker volume through a temporary folder against straight into the volume')
  .option('--size <MB>', 'the size of the data to back up and restore', (v) => Number(v), 1000)
  .option('--json', 'print the figures as JSON')
  .action(async (options: Options) => {
    if (!(options.size > 0)) throw new Error('--size must be a positive number of MB')
    const result = await runRestoreBenchmark({ ...options, json: Boolean(options.json) })
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1).padStart(8)
    const s = (seconds: number) => seconds.toFixed(1).padStart(7)
    const row = (name: string, r: Run) => `  ${name.padEnd(44)}${s(r.seconds)}  ${mb(r.peakExtraDisk)}`
    process.stdout.write(
      options.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : [
            `restic-docker-swarm restore benchmark: ${mb(result.dataBytes).trim()} MB restored into a Docker volume`,
            `                                               wall s  peak extra disk MB`,
            row('through a temporary folder (--to-volume)', result.staged),
            row('straight into the volume (Swarm job)', result.direct),
            '',
          ].join('\n'),
    )
  })

await program.parseAsync()
