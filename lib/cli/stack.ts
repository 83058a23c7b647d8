import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { ConfigError, EXIT } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { writeOut } from '../output.js'
import { findSavedStack } from '../recover/definitions.js'
import { stackFile } from '../recover/stack-file.js'
import { parseAt, swarmConfig, type CommandContext } from './context.js'
import { rejectedSnapshots } from '../observe/status-file.js'
import { withController, withDefaults } from './with-controller.js'
import { nameNodes } from '../swarm/cluster.js'
import { findNode } from '../recover/to-volume.js'
import { restoreStack } from '../recover/stack-restore.js'
import { labelDefaults } from '../swarm/label-defaults.js'

/** A new or empty folder to write into; anything in it is refused, never overwritten. */
async function emptyFolder(path: string): Promise<void> {
  const entries = await readdir(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : Promise.reject(error)))
  if (entries.length > 0) throw new ConfigError(`--output ${path} is not empty; give a new or empty folder.`)
  await mkdir(path, { recursive: true })
}

export function addStackCommands(program: Command, { cli, setExitCode }: CommandContext): void {
  const stack = program.command('stack').description('with MODE=swarm: a stack as rds saved it with its backups')
  stack
    .command('export <stack>')
    .description("write a stack file that docker stack deploy accepts from the services' definitions saved with their backups (to stdout, or into --output with its configs' files)")
    .option('--at <time>', 'the definitions saved at or before this time (ISO 8601, UTC unless it names a zone), not the newest')
    .option('--output <folder>', 'a new or empty folder to write stack.yml and the files of its configs into')
    .action(async (name: string, options: { at?: string; output?: string }) => {
      const config = swarmConfig(cli.env, 'stack export')
      const at = options.at === undefined ? undefined : parseAt(options.at)
      const log = createLogger({ stream: cli.stderr })
      setExitCode(
        await withController(cli, log, false, async (controller, swarm) => {
          await controller.sync('rds stack export')
          const newest = await findSavedStack(swarm.resticFor, (await withDefaults(controller, config)).repoPaths, name, at, log)
          const { definitions } = newest
          const file = stackFile(name, definitions)
          for (const missing of file.notCarried) log.warn(`stack: not in the stack file, set by hand if needed: ${missing}`)
          const withheld = [...new Set(definitions.flatMap((definition) => definition.withheld))]
          if (withheld.length > 0) log.warn(`stack: set ${withheld.join(', ')} in the environment of docker stack deploy: their values were not saved`)
          if (options.output === undefined) {
            if (file.configFiles.length > 0) throw new ConfigError(`stack ${name} has configs (${file.configFiles.map((entry) => entry.path).join(', ')}), whose files go beside the stack file: give --output FOLDER.`)
            await writeOut(cli.stdout, file.yaml)
            return EXIT.ok
          }
          await emptyFolder(options.output)
          for (const entry of file.configFiles) {
            await mkdir(dirname(join(options.output, entry.path)), { recursive: true })
            await writeFile(join(options.output, entry.path), entry.data)
          }
          await writeFile(join(options.output, 'stack.yml'), file.yaml)
          log.info(`stack: written to ${join(options.output, 'stack.yml')}`)
          return EXIT.ok
        }),
      )
    })
  stack
    .command('restore <stack>')
    .description("bring a stack back on a Swarm that does not run it, from what its backups saved: its networks, configs, services, and each service's volumes and dump on its node")
    .option('--at <time>', 'the definitions and snapshots saved at or before this time (ISO 8601, UTC unless it names a zone), not the newest')
    .option('--to <node>', 'the node every service with data goes to (default: the node its constraints name, else the least busy one they allow)')
    .action(async (name: string, options: { at?: string; to?: string }) => {
      const config = swarmConfig(cli.env, 'stack restore')
      const at = options.at === undefined ? undefined : parseAt(options.at)
      const log = createLogger({ stream: cli.stderr })
      setExitCode(
        await withController(cli, log, false, async (controller, swarm) => {
          await controller.sync('rds stack restore')
          const saved = await findSavedStack(swarm.resticFor, (await withDefaults(controller, config)).repoPaths, name, at, log)
          const to = options.to === undefined ? undefined : findNode(nameNodes(await swarm.docker.listNodes()), options.to, '--to')
          const request = { stack: name, at, to, env: cli.env, defaults: await labelDefaults(config), rejected: await rejectedSnapshots(config) }
          const { report, ok } = await restoreStack(swarm, saved, request, log, cli.stop)
          await writeOut(cli.stdout, `Stack ${name}, as it was at ${saved.snapshot.time}:\n${report.map((line) => `  ${line}\n`).join('')}`)
          return ok ? EXIT.ok : EXIT.failure
        }),
      )
    })
}
