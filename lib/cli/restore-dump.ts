import type { Command } from 'commander'
import type Docker from 'dockerode'
import { restoreCommand } from '../dumps/presets.js'
import { ConfigError, EXIT, RunError } from '../errors.js'
import { chooseHookContainer } from '../run/hooks.js'
import { restoreDump } from '../restore/dump.js'
import { loadDump, loadSqliteDump } from '../recover/service-jobs.js'
import { restoreSqlite } from '../restore/sqlite.js'
import { readConfig } from '../config/environment.js'
import { HOST_HELP, HOST_OPTION, snapshotChoice, withRestic, type CommandContext } from './context.js'
import { rejectedSnapshots } from '../observe/status-file.js'
import { withController } from './with-controller.js'

interface Options {
  service?: string
  toService?: string
  toContainer?: string
  command?: string
  host?: string
}

const LOADERS = 'postgres, mysql or mariadb'

/** A sqlite dump is loaded by rds itself into its database's file: a container, service or command does not apply. */
function refuseTargets(options: Options): void {
  const given = options.toService !== undefined ? '--to-service' : options.toContainer !== undefined ? '--to-container' : options.command !== undefined ? '--command' : undefined
  if (given !== undefined) throw new ConfigError(`${given} does not apply to a sqlite dump, which rds loads into its database's file itself (DUMP_DATABASE, rds.backup.dump.database); leave it out.`)
}

/** The loader: --command, else the preset's; a dump of the user's own command needs --command. */
function loader(options: Options, preset: Parameters<typeof restoreCommand>[0], dumpedBy: string): string {
  const command = options.command ?? restoreCommand(preset)
  if (command !== undefined) return command
  throw new ConfigError(
    preset === 'redis'
      ? 'a Redis RDB cannot be loaded into a running Redis; restore the file with rds restore --path and start Redis on it, or give --command.'
      : `${dumpedBy} is not a preset (${LOADERS}), so rds cannot know how to load its dump; give --command, e.g. --command 'psql -U postgres'.`,
  )
}

export function addRestoreDumpCommand(program: Command, { cli, setExitCode, plainLog }: CommandContext): void {
  program
    .command('restore-dump')
    .description("load a service's dump (rds.backup.dump, DUMP_COMMAND) into its running database, or into another container or service, streamed with no file written; a sqlite dump into its database's file")
    .argument('[snapshot]', 'a dump\'s snapshot ID, or "latest": the newest dump', 'latest')
    .option('--service <name>', 'with MODE=swarm: whose dump, a labelled service; it is loaded on the node of the container it goes into')
    .option('--to-service <name>', 'load into a running container of this service instead (a fresh database)')
    .option('--to-container <id>', 'load into this container, on the node rds runs on')
    .option('--command <command>', "the command that reads the dump on stdin and loads it (default: the preset's psql or mariadb)")
    .option(HOST_OPTION, HOST_HELP)
    .action(async (snapshot: string, options: Options) => {
      if (options.toService !== undefined && options.toContainer !== undefined) throw new ConfigError('give at most one of --to-service and --to-container.')
      const config = readConfig(cli.env)
      if (options.service !== undefined) {
        if (config.mode !== 'swarm') throw new ConfigError("--service needs MODE=swarm; run it in the controller's container (docker exec).")
        setExitCode(await restoreDumpInSwarm(snapshot, options, { cli, plainLog }))
        return
      }
      setExitCode(
        await withRestic(cli, plainLog, async (restic, config) => {
          if (config.dump?.preset === 'sqlite') {
            refuseTargets(options)
            await restoreSqlite(restic, { choice: await snapshotChoice(config, snapshot, options.host), database: config.dump.database!, signal: cli.stop }, plainLog)
            return
          }
          const command = loader(options, config.dump?.preset, 'DUMP_COMMAND')
          const [{ default: DockerClient }, { dockerEngine }] = await Promise.all([import('dockerode'), import('../docker/engine.js')])
          const docker: Docker = new DockerClient()
          const target = options.toService ?? config.serviceName
          if (options.toContainer === undefined && target === undefined) throw new ConfigError('SERVICE_NAME is not set; set it, or give --to-service or --to-container.')
          const containerId = options.toContainer ?? (await chooseHookContainer(dockerEngine(docker), target!)).containerId
          const choice = await snapshotChoice(config, snapshot, options.host)
          await restoreDump(restic, { choice, docker, containerId, command, signal: cli.stop }, plainLog)
        }),
      )
    })
}

/** With MODE=swarm: the restore runs as a job on the node of the container it loads into. */
function restoreDumpInSwarm(snapshot: string, options: Options, { cli, plainLog }: Pick<CommandContext, 'cli' | 'plainLog'>): Promise<number> {
  return withController(cli, plainLog, false, async (controller, swarm) => {
    if (options.toContainer !== undefined) throw new ConfigError('with --service, name the database to load into with --to-service: a container ID is known only on its own node.')
    await controller.sync('rds restore-dump')
    const jobs = [...controller.jobs.values()].map(({ job }) => job).filter((job) => job.service === options.service && job.backup)
    const job = jobs.find((candidate) => options.host === undefined || candidate.name === options.host)
    if (!job) throw new ConfigError(`there is no service ${options.service} labelled rds.backup=true${options.host ? ` with host ${options.host}` : ''}; rds jobs lists them.`)
    if (job.backup!.dump?.preset === 'sqlite') {
      refuseTargets(options)
      if (!job.node) throw new RunError(`service ${job.service} has no running task, so rds cannot know the node of its database's volume; start it (docker service scale ${job.service}=1) and try again.`)
      plainLog.info(`restore-dump: loading the dump of ${job.name} into ${job.backup!.dump.database} on ${job.node.nodeName}`)
      await loadSqliteDump(swarm, job, { snapshotId: snapshot, nodeId: job.node.nodeId, rejected: await rejectedSnapshots(readConfig(cli.env)) }, plainLog, cli.stop)
      return EXIT.ok
    }
    const command = loader(options, job.backup!.dump?.preset, `rds.backup.dump of ${job.service}`)
    const target = options.toService ?? job.service
    const node = controller.services.find((service) => service.name === target)?.tasks[0]
    if (!node) throw new RunError(`service ${target} has no running task to load the dump into; start it (docker service scale ${target}=1) and try again.`)
    plainLog.info(`restore-dump: loading the dump of ${job.name} into ${target} on ${node.nodeName}`)
    await loadDump(swarm, job, { snapshotId: snapshot, target, nodeId: node.nodeId, command, rejected: await rejectedSnapshots(readConfig(cli.env)) }, plainLog, cli.stop)
    return EXIT.ok
  })
}
