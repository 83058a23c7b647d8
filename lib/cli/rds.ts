import { createRequire } from 'node:module'
import { Command, CommanderError, Help, type Option } from 'commander'
import parseArgsStringToArgv from 'string-argv'
import { ConfigError, EXIT, RunError } from '../errors.js'
import { createLogger } from '../observe/log.js'
import type { CliContext, CommandContext } from './context.js'

export type { CliContext } from './context.js'

const HELP_FOOTER = `
Configuration comes from environment variables (SSH_HOST, REPO_PATH, RUN_AT, ...): see docs/configuration.md.
Exit codes: 0 success, 1 failure, 2 bad configuration, 3 incomplete snapshot, 4 could not check
(health, status, jobs, coverage), 10 no repository,
11 repository locked, 12 wrong password, 130 interrupted.`

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string }

type AddCommand = (program: Command, context: CommandContext) => void

/**
 * A file of commands: the names it adds, and the file itself, loaded only when one of them runs
 * (or for --help). `rds backup` then loads what a backup uses, and none of the Swarm, the server or
 * the Docker API; a test checks the names against what each file adds.
 */
export interface CommandFile {
  names: string[]
  load: () => Promise<AddCommand>
}

/** The commands, in the groups and order `rds --help` lists them. */
export const COMMAND_GROUPS: [string, CommandFile[]][] = [
  ['Back up:', [
    { names: ['agent'], load: async () => (await import('./agent.js')).addAgentCommand },
    { names: ['backup'], load: async () => (await import('./backup.js')).addBackupCommand },
  ]],
  ['Restore:', [
    { names: ['restore'], load: async () => (await import('./restore.js')).addRestoreCommand },
    { names: ['restore-dump'], load: async () => (await import('./restore-dump.js')).addRestoreDumpCommand },
    { names: ['export'], load: async () => (await import('./export.js')).addExportCommand },
    { names: ['import'], load: async () => (await import('./import.js')).addImportCommand },
    { names: ['stack'], load: async () => (await import('./stack.js')).addStackCommands },
    { names: ['recover'], load: async () => (await import('./recover.js')).addRecoverCommand },
  ]],
  ['Inspect:', [
    { names: ['snapshots'], load: async () => (await import('./snapshots.js')).addSnapshotsCommand },
    { names: ['ls'], load: async () => (await import('./ls.js')).addLsCommand },
    { names: ['jobs'], load: async () => (await import('./jobs.js')).addJobsCommand },
    { names: ['coverage'], load: async () => (await import('./coverage.js')).addCoverageCommand },
    { names: ['status'], load: async () => (await import('./status.js')).addStatusCommand },
    { names: ['health'], load: async () => (await import('./health.js')).addHealthCommand },
  ]],
  ['Operate:', [
    { names: ['doctor'], load: async () => (await import('./doctor.js')).addDoctorCommand },
    { names: ['drill'], load: async () => (await import('./drill.js')).addDrillCommand },
    { names: ['rehearse'], load: async () => (await import('./rehearse.js')).addRehearseCommand },
    { names: ['copy'], load: async () => (await import('./copy.js')).addCopyCommand },
    { names: ['hook'], load: async () => (await import('./hook.js')).addHookCommand },
    { names: ['console-user', 'console-token'], load: async () => (await import('./console.js')).addConsoleCommands },
  ]],
  // The server's commands, and the hidden ones the images and jobs run.
  ['Server:', [
    { names: ['keygen'], load: async () => (await import('./keygen.js')).addKeygenCommand },
    { names: ['server-keys', 'maintain', 'server'], load: async () => (await import('./server.js')).addServerCommands },
    { names: ['survey-volumes'], load: async () => (await import('./survey-volumes.js')).addSurveyVolumesCommand },
    { names: ['remove-volumes'], load: async () => (await import('./remove-volumes.js')).addRemoveVolumesCommand },
    { names: ['dump-stream'], load: async () => (await import('./dump-stream.js')).addDumpStreamCommand },
    { names: ['sqlite-dump'], load: async () => (await import('./sqlite-dump.js')).addSqliteDumpCommand },
  ]],
]

/**
 * The program with the commands of `only` (a command's name), or with all of them: an unknown name,
 * another option or nothing gets them all, for the help and commander's "did you mean".
 */
export async function buildProgram(cli: CliContext, setExitCode: (code: number) => void, only?: string): Promise<Command> {
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
    // Inherited by every command added after it: an option a command cannot run without says so.
    .configureHelp({
      optionDescription(this: Help, option: Option) {
        const text = Help.prototype.optionDescription.call(this, option)
        return option.mandatory ? `${text} (required)` : text
      },
    })
  const context: CommandContext = { cli, setExitCode, plainLog: createLogger({ stream: cli.stderr }) }
  const known = COMMAND_GROUPS.some(([, files]) => files.some((file) => file.names.includes(only ?? '')))
  // --version needs no command at all.
  const wanted = (file: CommandFile) => (known ? file.names.includes(only!) : only !== '-V' && only !== '--version')
  for (const [heading, files] of COMMAND_GROUPS) {
    program.commandsGroup(heading)
    for (const file of files) if (wanted(file)) (await file.load())(program, context)
  }
  return program
}

/** rds's command line. Resolves to the exit code; never calls process.exit. */
export async function main(argv: string[], context: CliContext): Promise<number> {
  let exitCode: number = EXIT.ok
  // EXTRA_ARGS is how a stack file adds options to the image's "rds agent" command.
  const args = argv[0] === 'agent' ? [...argv, ...parseArgsStringToArgv(context.env.EXTRA_ARGS ?? '')] : argv
  const program = await buildProgram(context, (code) => (exitCode = code), args[0])
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
