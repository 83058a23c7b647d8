import type { Command } from 'commander'
import { readConfig } from '../config/environment.js'
import { ConfigError } from '../errors.js'
import { restoreToDirectory } from '../restore/directory.js'
import { restoreToVolume } from '../restore/volume-transfer.js'
import type { RestoreOptions } from './restore-swarm.js'
import { collect, HOST_HELP, HOST_OPTION, isTerminal, PATH_OPTION, snapshotChoice, volumeHelper, withRestic, type CommandContext } from './context.js'


/** restic's SNAPSHOT:FOLDER: the folder of the snapshot that becomes the destination's root. */
export function splitSnapshot(argument: string): { snapshot: string; folder?: string } {
  const colon = argument.indexOf(':')
  if (colon < 0) return { snapshot: argument }
  const folder = argument.slice(colon + 1)
  if (!folder.startsWith('/')) throw new ConfigError(`${JSON.stringify(argument)}: the folder after the ":" must be a path in the snapshot as rds ls shows it, starting with "/".`)
  return { snapshot: argument.slice(0, colon) || 'latest', folder }
}

export function addRestoreCommand(program: Command, { cli, setExitCode, plainLog }: CommandContext): void {
  program
    .command('restore')
    .description('restore a snapshot, or some of its paths, into a new or empty directory or Docker volume; with MODE=swarm, a whole service in place')
    .argument('[snapshot]', 'a snapshot ID or "latest"; SNAPSHOT:FOLDER makes that folder of it the destination\'s root', 'latest')
    .option('--target <dir>', "the directory to restore into; the snapshot's paths are recreated under it")
    .option('--to-volume <name>', "the Docker volume to restore into, created if needed; the snapshot's path (or FOLDER) becomes its root")
    .option('--to-node <node>', 'with MODE=swarm: the node of --to-volume (default: the one node that has it), or the node to restore --service onto and move it to')
    .option('--service <name>', 'with MODE=swarm: restore this labelled service in place, its volumes and its dump, with a safety snapshot first and a rollback on failure')
    .option('--at <time>', 'with --service: the newest snapshots taken at or before this time (ISO 8601, e.g. 2026-12-01T03:00)')
    .option(PATH_OPTION, 'restore only this folder or file of the snapshot (repeatable)', collect, [])
    .option('--exclude <pattern>', "leave out what matches this pattern, as restic's --exclude (repeatable); with --delete, what matches is kept", collect, [])
    .option('--force', 'restore into a directory or volume that is not empty, overwriting what the snapshot holds')
    .option('--delete', 'with --force: also delete what the directory or volume holds that the snapshot does not')
    .option(HOST_OPTION, HOST_HELP)
    .action(async (argument: string, options: RestoreOptions) => {
      const config = readConfig(cli.env)
      const { snapshot, folder } = splitSnapshot(argument)
      if (options.service !== undefined) {
        if (options.target || options.toVolume || options.force || options.delete || options.exclude.length > 0 || folder) {
          throw new ConfigError('--service restores the service\'s own volumes in place, with a safety snapshot: leave out --target, --to-volume, --force, --delete, --exclude and SNAPSHOT:FOLDER (it keeps what rds.backup.exclude leaves out).')
        }
      } else if (Boolean(options.target) === Boolean(options.toVolume)) {
        throw new ConfigError('give exactly one destination: --target DIR or --to-volume NAME (or, with MODE=swarm, --service NAME).')
      }
      if (options.path.length > 0 && options.exclude.length > 0) throw new ConfigError('give --path or --exclude, not both: restic restores either what the paths name or all but what the patterns match.')
      if (options.at !== undefined && options.service === undefined) throw new ConfigError('--at chooses the snapshots of a service restored in place; give --service, or a snapshot ID.')
      if (options.toNode !== undefined && options.toVolume === undefined && options.service === undefined) throw new ConfigError('--to-node names the node of --to-volume or --service; give one of them too.')
      if (config.mode === 'swarm' && (options.service !== undefined || options.toVolume !== undefined)) {
        const { restoreInSwarm } = await import('./restore-swarm.js')
        setExitCode(await restoreInSwarm(cli, plainLog, { ...options, snapshot, folder }))
        return
      }
      if (options.service !== undefined || options.toNode !== undefined) throw new ConfigError(`${options.service !== undefined ? '--service' : '--to-node'} needs MODE=swarm; run it in the controller's container (docker exec).`)
      if (options.delete && options.toVolume) throw new ConfigError('--delete applies to --target here; a volume is rewritten whole by the controller (MODE=swarm).')
      const restore = { includes: options.path, excludes: options.exclude, force: Boolean(options.force), delete: Boolean(options.delete), folder, progress: isTerminal(cli.stdout) }
      setExitCode(
        await withRestic(
          cli,
          plainLog,
          async (restic, config) => {
            const choice = await snapshotChoice(config, snapshot, options.host)
            if (options.toVolume) await restoreToVolume(restic, await volumeHelper(cli), options.toVolume, { ...restore, choice }, plainLog)
            else await restoreToDirectory(restic, { ...restore, choice, target: options.target! }, plainLog)
          },
          options.host,
        ),
      )
    })
}
