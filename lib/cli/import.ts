import type { Command } from 'commander'
import { importVolume } from '../restore/volume-transfer.js'
import { volumeHelper, type CommandContext } from './context.js'

export function addImportCommand(program: Command, { cli, plainLog }: CommandContext): void {
  program
    .command('import')
    .description('create a Docker volume from a tar archive (as rds export writes), checked whole first')
    .argument('<file>', 'the tar file, or - for standard input')
    .requiredOption('--to-volume <name>', 'the volume to create')
    .option('--force', 'write into a volume that already exists and is not empty')
    .action(async (file: string, options: { toVolume: string; force?: boolean }) => {
      await importVolume(await volumeHelper(cli), file, cli.stdin, options.toVolume, Boolean(options.force), plainLog)
    })
}
