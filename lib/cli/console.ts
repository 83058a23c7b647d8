import type { Command } from 'commander'
import { text } from 'node:stream/consumers'
import { ConfigError } from '../errors.js'
import { newToken, ROLES, userLine, type Role } from '../console/accounts.js'
import { writeOut } from '../output.js'
import type { CommandContext } from './context.js'

const roleOf = (role: string): Role => {
  if (!(ROLES as readonly string[]).includes(role)) throw new ConfigError(`--role must be "operator" or "read-only", not ${JSON.stringify(role)}.`)
  return role as Role
}

export function addConsoleCommands(program: Command, { cli }: CommandContext): void {
  program
    .command('console-user')
    .description("print a console user's line for CONSOLE_USERS_FILE, with the password read from stdin and kept only as a salted scrypt hash")
    .argument('<name>', 'the name the user logs in with')
    .option('--role <role>', 'operator (may back up and restore) or read-only (sees everything, changes nothing)', 'read-only')
    .addHelpText('after', '\nExample: printf %s "$PASSWORD" | rds console-user alice --role operator >> console-users')
    .action(async (name: string, options: { role: string }) => {
      const role = roleOf(options.role)
      // Read from stdin, never from an argument: argv is visible to every process on the host.
      const password = (await text(cli.stdin)).replace(/\r?\n$/, '')
      await writeOut(cli.stdout, `${await userLine(name, role, password)}\n`)
    })
  program
    .command('console-token')
    .description("make a token for scripts that call the console's API: its line for CONSOLE_USERS_FILE on stdout, the token itself (shown once) on stderr")
    .argument('<name>', 'the name of the token (the script that uses it)')
    .option('--role <role>', 'operator or read-only', 'read-only')
    .addHelpText('after', '\nExample: rds console-token nightly >> console-users 2> nightly.token')
    .action(async (name: string, options: { role: string }) => {
      const { token, line } = newToken(name, roleOf(options.role))
      await writeOut(cli.stdout, `${line}\n`)
      // Alone on stderr, so that it can be kept in a file of its own: it is shown this once.
      await writeOut(cli.stderr, `${token}\n`)
    })
}
