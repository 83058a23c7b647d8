import type { Command } from 'commander'
import { ConfigError } from '../errors.js'
import { exportSnapshot } from '../restore/export.js'
import { exportVolume } from '../restore/volume-transfer.js'
import { HOST_HELP, HOST_OPTION, isTerminal, PATH_OPTION, snapshotChoice, volumeHelper, withRestic, type CommandContext } from './context.js'

export function addExportCommand(program: Command, { cli, setExitCode, plainLog }: CommandContext): void {
  program
    .command('export')
    .description('write a snapshot (or a live Docker volume, with --volume) as a tar archive to a file or to standard output')
    .argument('[snapshot]', 'a snapshot ID or "latest"', 'latest')
    .option('--output <file>', 'the tar file to write (written whole or not at all); standard output by default')
    .option(PATH_OPTION, 'only this folder of the snapshot (as tar), or this file (its contents, as they are)')
    .option('--volume <name>', 'export this Docker volume as it is now, without any repository')
    .option(HOST_OPTION, HOST_HELP)
    .action(async (snapshot: string, options: { output?: string; path?: string; volume?: string; host?: string }) => {
      if (!options.output && isTerminal(cli.stdout)) {
        throw new ConfigError('refusing to write a tar archive to a terminal; give --output FILE, or pipe the output to a file or a program.')
      }
      if (options.volume) {
        await exportVolume(await volumeHelper(cli), options.volume, options.output, cli.stdout, plainLog)
        return
      }
      setExitCode(
        await withRestic(cli, plainLog, async (restic, config) =>
          exportSnapshot(restic, { choice: await snapshotChoice(config, snapshot, options.host), path: options.path, output: options.output, stdout: cli.stdout }, plainLog),
          options.host,
        ),
      )
    })
}
