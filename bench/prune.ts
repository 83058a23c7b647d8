// npm run bench:prune [-- --services N --size MB --json]: the retention of one night of N services
// that share one repository, as the controller ran it before (each service's forget with --prune:
// N repository-wide prunes, each holding the exclusive lock the others wait for) and as it runs it
// now (N forgets, then one prune of the repository at PRUNE_AT). The same repository, copied, for
// both: restic 0.18 on a local repository, so that the figures are restic's work, not the network's.
// See docs/BENCHMARKS.md.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { execa } from 'execa'

interface Options {
  services: number
  size: number
  json: boolean
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`)

/** Seconds a list of restic commands takes, one after another, on a repository. */
async function timed(repository: string, password: string, commands: string[][]): Promise<number> {
  const started = process.hrtime.bigint()
  for (const args of commands) await execa('restic', ['-r', repository, '--password-file', password, '--no-cache', '-q', ...args])
  return Number(process.hrtime.bigint() - started) / 1e9
}

async function main(options: Options): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rds-bench-prune-'))
  try {
    const password = join(dir, 'password')
    await writeFile(password, 'bench\n')
    const repository = join(dir, 'repository')
    const restic = (args: string[], input?: string) => execa('restic', ['-r', repository, '--password-file', password, '-q', ...args], { input })
    await restic(['init'])
    const hosts = Array.from({ length: options.services }, (_, i) => `stack_service${String(i + 1).padStart(2, '0')}`)
    // Three nights of each service, each with new data: the forget of the two older ones leaves packs to prune.
    const bytes = Math.round((options.size * 1024 * 1024) / (hosts.length * 3))
    progress(`${hosts.length} services, 3 snapshots each of ${(bytes / 1024).toFixed(0)} KiB`)
    for (let night = 0; night < 3; night++) {
      for (const host of hosts) await restic(['backup', '--host', host, '--stdin', '--stdin-filename', 'data.bin'], randomBytes(bytes).toString('base64'))
    }
    const before = join(dir, 'before')
    const after = join(dir, 'after')
    await cp(repository, before, { recursive: true })
    await cp(repository, after, { recursive: true })
    progress('each forget with --prune, as before')
    const perService = await timed(before, password, hosts.map((host) => ['forget', '--host', host, '--keep-last', '1', '--prune']))
    progress('the forgets, then one prune, as now')
    const perRepository = await timed(after, password, [...hosts.map((host) => ['forget', '--host', host, '--keep-last', '1']), ['prune']])
    const result = { services: hosts.length, sizeMiB: options.size, before: { prunes: hosts.length, seconds: perService }, after: { prunes: 1, seconds: perRepository } }
    if (options.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`)
      return
    }
    process.stdout.write(
      [
        `restic-docker-swarm benchmark: one night's retention of ${hosts.length} services in one repository (${options.size} MiB)`,
        '                                   prunes   wall s',
        `  forget --prune for each service   ${String(hosts.length).padStart(6)}   ${perService.toFixed(2).padStart(6)}`,
        `  forgets, then one prune           ${'1'.padStart(6)}   ${perRepository.toFixed(2).padStart(6)}`,
        `  before / after                             ${(perService / perRepository).toFixed(2)}x`,
        '',
      ].join('\n'),
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const program = new Command('bench:prune')
  .option('--services <n>', 'services sharing the repository', (raw) => Number.parseInt(raw, 10), 20)
  .option('--size <MB>', "the data of all their snapshots, in MiB", (raw) => Number.parseFloat(raw), 200)
  .option('--json', 'print the figures as JSON')
  .action((options: Options) => main(options))
await program.parseAsync()
