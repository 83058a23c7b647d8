import { createRequire } from 'node:module'
import { Command, CommanderError } from 'commander'
import parseArgsStringToArgv from 'string-argv'
import { ConfigError, EXIT, RunError } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { addAgentCommand } from './agent.js'
import { addBackupCommand } from './backup.js'
import type { CliContext, CommandContext } from './context.js'
import { addCopyCommand } from './copy.js'
import { addCoverageCommand } from './coverage.js'
import { addExportCommand } from './export.js'
import { addHealthCommand } from './health.js'
import { addStatusCommand } from './status.js'
import { addDoctorCommand } from './doctor.js'
import { addDrillCommand } from './drill.js'
import { addDumpStreamCommand } from './dump-stream.js'
import { addImportCommand } from './import.js'
import { addJobsCommand } from './jobs.js'
import { addKeygenCommand } from './keygen.js'
import { addLsCommand } from './ls.js'
import { addRestoreCommand } from './restore.js'
import { addRestoreDumpCommand } from './restore-dump.js'
import { addServerCommands } from './server.js'
import { addSnapshotsCommand } from './snapshots.js'
import { addSurveyVolumesCommand } from './survey-volumes.js'

export type { CliContext } from './context.js'

const HELP_FOOTER = `
Configuration comes from environment variables (SSH_HOST, REPO_PATH, RUN_AT, ...): see docs/configuration.md.
Exit codes: 0 success, 1 failure, 2 bad configuration, 3 incomplete snapshot, 4 could not check
(health, status, jobs, coverage), 10 no repository,
11 repository locked, 12 wrong password, 130 interrupted.`

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string }

/** The commands, in the groups and order `rds --help` lists them. */
const COMMAND_GROUPS: [string, ((program: Command, context: CommandContext) => void)[]][] = [
  ['Back up:', [addAgentCommand, addBackupCommand]],
  ['Restore:', [addRestoreCommand, addRestoreDumpCommand, addExportCommand, addImportCommand]],
  ['Inspect:', [addSnapshotsCommand, addLsCommand, addJobsCommand, addCoverageCommand, addStatusCommand, addHealthCommand]],
  ['Operate:', [addDoctorCommand, addDrillCommand, addCopyCommand]],
  // The server's commands, and the hidden ones the images and jobs run.
  ['Server:', [addKeygenCommand, addServerCommands, addSurveyVolumesCommand, addDumpStreamCommand]],
]

export function buildProgram(cli: CliContext, setExitCode: (code: number) => void): Command {
  const program = new Command('rds')
    .version(version, '-V, --version')
    .description('Encrypted, incremental backups of Docker Swarm volumes and databases with restic: every labelled service of a Swarm (MODE=swarm), or one service.')
    .addHelpText('after', HELP_FOOTER)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => cli.stdout.write(text),
      writeErr: (text) => cli.stderr.write(text),
    })
    .showHelpAfterError('(run "rds --help" for usage)')
  const context: CommandContext = { cli, setExitCode, plainLog: createLogger({ stream: cli.stderr }) }
  for (const [heading, commands] of COMMAND_GROUPS) {
    program.commandsGroup(heading)
    for (const addCommand of commands) addCommand(program, context)
  }
  return program
}

/** rds's command line. Resolves to the exit code; never calls process.exit. */
export async function main(argv: string[], context: CliContext): Promise<number> {
  let exitCode: number = EXIT.ok
  // EXTRA_ARGS is how a stack file adds options to the image's "rds agent" command.
  const args = argv[0] === 'agent' ? [...argv, ...parseArgsStringToArgv(context.env.EXTRA_ARGS ?? '')] : argv
  const program = buildProgram(context, (code) => (exitCode = code))
  if (args.length === 0) {
    program.outputHelp()
    return EXIT.usage
  }
  try {
    await program.parseAsync(args, { from: 'user' })
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage
    if (error instanceof ConfigError || error instanceof RunError) {
      context.stderr.write(`rds: ${error.message}\n`)
      return error.exitCode
    }
    if ((error as Error).name === 'AbortError') {
      context.stderr.write('rds: interrupted before it finished; nothing was left half-done.\n')
      return EXIT.interrupted
    }
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') {
      context.stderr.write('rds: the reader of the output went away before it was written whole.\n')
      return EXIT.failure
    }
    // Anything else (the Docker engine, the file system) still gets one line and a failure code.
    context.stderr.write(`rds: ${error instanceof Error ? error.message : String(error)}\n`)
    return EXIT.failure
  }
  return exitCode
}
