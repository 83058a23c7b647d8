// npm run bench:prune [-- --services N --size MB --json]: the retention of one night of N services
// that share one repository, as the controller ran it before (each service's forget with --prune:
// N repository-wide prunes, each holding the exclusive lock the others wait for) and as it runs it
// now (N forgets, then one prune of the repository at PRUNE_AT). The same repository, copied, for
// both, on the tests' SFTP server (a real sshd on loopback), through runrestic as an operator would.
// See docs/BENCHMARKS.md.
import { cp } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command } from 'commander'
import { execa } from 'execa'
import { startSftpServer } from '../test/fixtures/sftp-server.js'

interface Options {
  services: number
  size: number
  json: boolean
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`)

const RUNRESTIC = fileURLToPath(new URL('../../dist/bin/runrestic.js', import.meta.url))

/** Seconds a list of runrestic commands takes, one after another, on a repository of the server. */
async function timed(env: Record<string, string>, commands: string[][]): Promise<number> {
  const started = process.hrtime.bigint()
  for (const args of commands) await execa(process.execPath, [RUNRESTIC, '-q', ...args], { env })
  return Number(process.hrtime.bigint() - started) / 1e9
}

async function main(options: Options): Promise<void> {
  const server = await startSftpServer()
  try {
    const env = (repoPath: string) => ({ ...server.env('/unused', { REPO_PATH: repoPath }), PATH: process.env.PATH ?? '' })
    const restic = (args: string[], input?: string) => execa(process.execPath, [RUNRESTIC, '-q', ...args], { env: env('night'), input })
    await restic(['init'])
    const hosts = Array.from({ length: options.services }, (_, i) => `stack_service${String(i + 1).padStart(2, '0')}`)
    // Three nights of each service, each with new data: the forget of the two older ones leaves packs to prune.
    const bytes = Math.round((options.size * 1024 * 1024) / (hosts.length * 3))
    progress(`${hosts.length} services, 3 snapshots each of ${(bytes / 1024).toFixed(0)} KiB, on the SFTP server`)
    for (let night = 0; night < 3; night++) {
      for (const host of hosts) await restic(['backup', '--host', host, '--stdin', '--stdin-filename', 'data.bin'], randomBytes(bytes).toString('base64'))
    }
    await cp(join(server.home, 'night'), join(server.home, 'before'), { recursive: true })
    await cp(join(server.home, 'night'), join(server.home, 'after'), { recursive: true })
    progress('forget --prune for each service, as before')
    const perService = await timed(env('before'), hosts.map((host) => ['forget', '--host', host, '--keep-last', '1', '--prune']))
    progress('the forgets, then one prune, as now')
    const perRepository = await timed(env('after'), [...hosts.map((host) => ['forget', '--host', host, '--keep-last', '1']), ['prune']])
    const result = { services: hosts.length, sizeMiB: options.size, before: { prunes: hosts.length, seconds: perService }, after: { prunes: 1, seconds: perRepository } }
    if (options.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`)
      return
    }
    process.stdout.write(
      [
        `restic-docker-swarm benchmark: one night's retention of ${hosts.length} services in one repository (${options.size} MiB, SFTP)`,
        '                                   prunes   wall s',
        `  forget --prune for each service   ${String(hosts.length).padStart(6)}   ${perService.toFixed(2).padStart(6)}`,
        `  forgets, then one prune           ${'1'.padStart(6)}   ${perRepository.toFixed(2).padStart(6)}`,
        `  before / after                             ${(perService / perRepository).toFixed(2)}x`,
        '',
      ].join('\n'),
    )
  } finally {
    await server.stop()
  }
}

const program = new Command('bench:prune')
  .option('--services <n>', 'services sharing the repository', (raw) => Number.parseInt(raw, 10), 20)
  .option('--size <MB>', "the data of all their snapshots, in MiB", (raw) => Number.parseFloat(raw), 200)
  .option('--json', 'print the figures as JSON')
  .action((options: Options) => main(options))
await program.parseAsync()
