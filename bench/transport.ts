// npm run bench:transport [-- --size MB --json]: the same data backed up, backed up again unchanged,
// and restored, over SFTP and over an append-only key (restic's rclone backend through ssh to the
// server's rds-serve, rclone serve restic --append-only): what the protection costs. Both against a
// real sshd on this machine. See docs/BENCHMARKS.md.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command } from 'commander'
import { execa } from 'execa'
import { addRandomFiles } from '../test/fixtures/data.js'
import { rdsServeLine, startSftpServer } from '../test/fixtures/sftp-server.js'

const RDS = fileURLToPath(new URL('../../dist/bin/rds.js', import.meta.url))
// Files of 4 MB: restic's packs are 16 MiB, so this is neither a stream of tiny files nor one blob.
const FILE_BYTES = 4 * 1024 * 1024

interface Options {
  size: number
  json: boolean
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`)

async function timed(args: string[], env: Record<string, string>): Promise<number> {
  const started = process.hrtime.bigint()
  const result = await execa(process.execPath, [RDS, ...args], { env, extendEnv: false, reject: false })
  if (result.exitCode !== 0) throw new Error(`rds ${args.join(' ')} failed: ${result.stderr}`)
  return Number(process.hrtime.bigint() - started) / 1e9
}

export async function runTransportBenchmark(options: Options) {
  const work = await mkdtemp(join(tmpdir(), 'rds-bench-transport-'))
  try {
    const data = join(work, 'data')
    const files = Math.max(1, Math.round((options.size * 1e6) / FILE_BYTES))
    progress(`generating ${files} files of random data (${((files * FILE_BYTES) / 1e6).toFixed(0)} MB)`)
    await addRandomFiles(data, files, FILE_BYTES)
    const measure = async (mode: 'sftp' | 'append-only') => {
      const server = await startSftpServer(mode === 'sftp' ? {} : { keyLine: (publicKey, home) => rdsServeLine(home, 'append-only', 'repo', publicKey) })
      try {
        const env = server.env(data, { SERVER_MODE: mode, RESTIC_CACHE_DIR: join(work, `cache-${mode}`) })
        const initial = await timed(['backup'], env)
        const again = await timed(['backup'], env)
        const restore = await timed(['restore', 'latest', '--target', join(work, `restored-${mode}`)], env)
        progress(`${mode}: initial ${initial.toFixed(1)} s, again ${again.toFixed(1)} s, restore ${restore.toFixed(1)} s`)
        return { initial, again, restore }
      } finally {
        await server.stop()
        await rm(join(work, `restored-${mode}`), { recursive: true, force: true })
      }
    }
    return { size: (files * FILE_BYTES) / 1e6, files, sftp: await measure('sftp'), appendOnly: await measure('append-only') }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

const program = new Command('bench-transport')
  .description('measure a backup, an unchanged backup and a restore over SFTP and over an append-only key')
  .option('--size <MB>', 'how much random data to back up', (v) => Number(v), 500)
  .option('--json', 'print the figures as JSON')
  .action(async (options: Options) => {
    if (!(options.size > 0)) throw new Error('--size must be a positive number of MB')
    const result = await runTransportBenchmark({ ...options, json: Boolean(options.json) })
    const s = (seconds: number) => seconds.toFixed(1).padStart(9)
    const row = (name: string, r: { initial: number; again: number; restore: number }) => `  ${name.padEnd(14)}${s(r.initial)}${s(r.again)}${s(r.restore)}`
    process.stdout.write(
      options.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : [
            `restic-docker-swarm transport benchmark: ${result.files} files, ${result.size.toFixed(0)} MB of random data (wall seconds)`,
            `                  initial    again  restore`,
            row('SFTP', result.sftp),
            row('append-only', result.appendOnly),
            '',
          ].join('\n'),
    )
  })

await program.parseAsync()
