import type { Command } from 'commander'
import { resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import { SERVER_MODES, type ServerMode } from '../config/environment.js'
import { makeAgentKey } from '../server/keygen.js'
import { writeOut } from '../output.js'
import type { CommandContext } from './context.js'

export function addKeygenCommand(program: Command, { cli }: CommandContext): void {
  program
    .command('keygen')
    .description("make an agent's SSH key pair, add its line to the server's authorized keys, and print the commands that turn both into Swarm secrets")
    .option('--repository <path>', 'the one repository the key may reach (the agent\'s REPO_PATH); not for --mode sftp')
    .option('--mode <mode>', 'append-only (add backups, never delete: retention runs on the server), confined (this repository only, read-write) or sftp (every repository)', 'append-only')
    .option('--name <name>', 'the key\'s files and Swarm secret (default: rds-agent-<repository>)')
    .option('--dir <dir>', 'where the key pair is written; the files get the directory\'s owner', '.')
    .option('--authorized-keys <file>', 'the server\'s list of keys, which the line is added to (made if missing)', 'authorized_keys')
    .option('--server-service <name>', 'the server\'s Swarm service, for the printed commands', 'backup_server')
    .option('--agent-service <name>', 'the agent\'s Swarm service, for the printed commands', 'backup_agent')
    .option('--json', 'print the files, the line and the commands as JSON, for scripts')
    .action(async (options: { repository?: string; mode: string; name?: string; dir: string; authorizedKeys: string; serverService: string; agentService: string; json?: boolean }) => {
      if (!(SERVER_MODES as readonly string[]).includes(options.mode)) throw new ConfigError(`--mode must be "append-only", "confined" or "sftp", not ${JSON.stringify(options.mode)}.`)
      const dir = resolve(options.dir)
      const name = options.name ?? `rds-agent-${(options.repository ?? 'sftp').replaceAll('/', '-')}`
      const authorizedKeys = resolve(dir, options.authorizedKeys)
      const result = await makeAgentKey({
        mode: options.mode as ServerMode,
        repository: options.repository,
        dir,
        authorizedKeys,
        name,
        serverService: options.serverService,
        agentService: options.agentService,
      })
      if (options.json) {
        const { privateKeyFile, authorizedKeysLine, commands } = result
        const made = { mode: options.mode, repository: options.repository, secret: name, privateKeyFile, publicKeyFile: `${privateKeyFile}.pub`, authorizedKeysFile: authorizedKeys, authorizedKeysLine, commands }
        await writeOut(cli.stdout, `${JSON.stringify(made, null, 2)}\n`)
      } else await writeOut(cli.stdout, `${result.authorizedKeysLine}\n\n${result.instructions}`)
    })
}
