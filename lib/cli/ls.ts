import type { Command } from 'commander'
import { listPath, resolveSnapshot, type SnapshotNode } from '../restic/snapshots.js'
import { HOST_HELP, HOST_OPTION, PATH_OPTION, snapshotChoice, withRestic, type CommandContext } from './context.js'
import { writeOut } from '../output.js'

export function addLsCommand(program: Command, { cli, setExitCode, plainLog }: CommandContext): void {
  program
    .command('ls')
    .description('list the files in a snapshot, or under one of its paths')
    .argument('[snapshot]', 'a snapshot ID or "latest"', 'latest')
    .option(PATH_OPTION, 'only this folder or file of the snapshot, and what is below it')
    .option('--json', 'print the entries as JSON, for scripts')
    .option(HOST_OPTION, HOST_HELP)
    .action(async (snapshot: string, options: { path?: string; json?: boolean; host?: string }) => {
      setExitCode(
        await withRestic(cli, plainLog, async (restic, config) => {
          const found = await resolveSnapshot(restic, await snapshotChoice(config, snapshot, options.host), plainLog)
          // One JSON array, written an entry at a time as restic lists them.
          let separator = '['
          const asJson = async (node: SnapshotNode) => {
            await writeOut(cli.stdout, `${separator}${JSON.stringify(node)}`)
            separator = ','
          }
          const asText = (node: SnapshotNode) => {
            const owner = `${node.uid ?? '?'}/${node.gid ?? '?'}`
            return writeOut(cli.stdout, `${node.permissions ?? node.type} ${owner.padEnd(11)} ${String(node.size ?? '').padStart(12)} ${node.mtime?.slice(0, 19).replace('T', ' ') ?? ''} ${node.path}\n`)
          }
          await listPath(restic, found, options.path, plainLog, options.json ? asJson : asText)
          if (options.json) await writeOut(cli.stdout, separator === '[' ? '[]\n' : ']\n')
        }, options.host),
      )
    })
}
