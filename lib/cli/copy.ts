import type { Command } from 'commander'
import { readSecretFile } from '../config/secret-files.js'
import { copySnapshots } from '../restic/copy.js'
import { HOST_OPTION, isTerminal, withRestic, type CommandContext } from './context.js'

export function addCopyCommand(program: Command, { cli, setExitCode, plainLog }: CommandContext): void {
  program
    .command('copy')
    .description('copy snapshots to a second repository (restic copy), creating it if needed')
    .requiredOption('--to <repository>', 'the second repository: any restic repository URL')
    .requiredOption('--to-password-file <file>', "the file holding the second repository's password")
    .option(HOST_OPTION, "only this host's snapshots")
    .action(async (options: { to: string; toPasswordFile: string; host?: string }) => {
      setExitCode(
        await withRestic(cli, plainLog, async (restic) => {
          await readSecretFile('--to-password-file', options.toPasswordFile, "second repository's password")
          const copy = { to: options.to, toPasswordFile: options.toPasswordFile, host: options.host, progress: isTerminal(cli.stdout) }
          await copySnapshots(restic, copy, plainLog)
        }),
      )
    })
}
