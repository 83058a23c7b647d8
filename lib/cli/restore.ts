import type { Command } from 'commander'
import { ConfigError } from '../errors.js'
import { restoreToDirectory } from '../restore/directory.js'
import { restoreToVolume } from '../restore/volume-transfer.js'
import { collect, HOST_HELP, HOST_OPTION, isTerminal, PATH_OPTION, snapshotChoice, volumeHelper, withRestic, type CommandContext } from './context.js'

export function addRestoreCommand(program: Command, { cli, setExitCode, plainLog }: CommandContext): void {
  program
    .command('restore')
    .description('restore a snapshot, or some of its paths, into a new or empty directory or Docker volume')
    .argument('[snapshot]', 'a snapshot ID or "latest"', 'latest')
    .option('--target <dir>', "the directory to restore into; the snapshot's paths are recreated under it")
    .option('--to-volume <name>', "the Docker volume to restore into, created if needed; the snapshot's path becomes its root")
    .option(PATH_OPTION, 'restore only this folder or file of the snapshot (repeatable)', collect, [])
    .option('--force', 'restore into a directory or volume that is not empty, overwriting what the snapshot holds')
    .option(HOST_OPTION, HOST_HELP)
    .action(async (snapshot: string, options: { target?: string; toVolume?: string; path: string[]; force?: boolean; host?: string }) => {
      if (Boolean(options.target) === Boolean(options.toVolume)) {
        throw new ConfigError('give exactly one destination: --target DIR or --to-volume NAME.')
      }
      const restore = { includes: options.path, force: Boolean(options.force), progress: isTerminal(cli.stdout) }
      setExitCode(
        await withRestic(cli, plainLog, async (restic, config) => {
          const choice = await snapshotChoice(config, snapshot, options.host)
          if (options.toVolume) await restoreToVolume(restic, await volumeHelper(cli), options.toVolume, { ...restore, choice }, plainLog)
          else await restoreToDirectory(restic, { ...restore, choice, target: options.target! }, plainLog)
        }),
      )
    })
}
