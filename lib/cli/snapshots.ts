import type { Command } from 'commander'
import { runRestic } from '../restic/command.js'
import { HOST_OPTION, isTerminal, withRestic, type CommandContext } from './context.js'

export function addSnapshotsCommand(program: Command, { cli, setExitCode, plainLog }: CommandContext): void {
  program
    .command('snapshots')
    .description('list the snapshots in the repository')
    .option('--json', 'print them as JSON, for scripts')
    .option(HOST_OPTION, 'only the snapshots of this host')
    .action(async (options: { json?: boolean; host?: string }) => {
      const args = ['snapshots', ...(options.json ? ['--json'] : []), ...(options.host ? ['--host', options.host] : [])]
      const stdoutTo = isTerminal(cli.stdout) ? 'inherit' : cli.stdout
      setExitCode(await withRestic(cli, plainLog, (restic) => runRestic(restic, args, { log: plainLog, stdoutTo }), options.host))
    })
}
