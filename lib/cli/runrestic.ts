import { constants } from 'node:os'
import type { Writable } from 'node:stream'
import { APPEND_ONLY_RETENTION, readConfig, type Config, type Env } from '../config/environment.js'
import { bandwidthOptions } from '../config/run-limits.js'
import { ConfigError, EXIT } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { repositoryEnv, repositoryOptions, serverRepository, urlRepository, type Repository } from '../restic/repository.js'
import { copyOutput, resticNotFound, startRestic } from '../restic/command.js'
import { SSH_ALIAS, sshConfigText } from '../transport/ssh.js'
import { openWorkspace } from '../restic/workspace.js'

export interface RunresticContext {
  env: Env
  stdout: Writable
  stderr: Writable
  /** Aborted on SIGTERM or SIGINT; restic is then sent SIGTERM so that it removes its lock. */
  stop: AbortSignal
}

// For display only: a word a POSIX shell would read back as the same argument.
const shellQuote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)

/** The command runrestic runs, as a shell would write it: the repository in the environment, then restic. */
function commandLine(binary: string, repository: Repository, config: Config): string {
  const variables = Object.entries(repositoryEnv(repository)).map(([name, value]) => `${name}=${shellQuote(value)}`)
  return [...variables, ...[binary, ...repositoryOptions(repository, config.retryLock), ...bandwidthOptions(config.bandwidth)].map(shellQuote)].join(' ')
}

/** What runrestic prints when run without arguments: the command it runs, and how to use it. */
export function usage(env: Env): string {
  const config = readConfig(env)
  if (config.repositories.name !== undefined) {
    // Its URL may hold a password and its variables are credentials: neither is printed.
    return `usage: runrestic [restic arguments...]\n\nRuns restic against this agent's repository ${config.repositories.name}, with the URL, password file, options and credentials REPOSITORIES_FILE (${config.repositories.file}) gives it.\n\n${EXAMPLES}`
  }
  if (config.resticRepository !== undefined) {
    const repository = urlRepository(config.resticRepository, config.passwordFile)
    // Printed with the URL as described: without a password it may hold.
    const command = commandLine(config.resticBinary, { ...repository, url: repository.describe }, config)
    return `usage: runrestic [restic arguments...]\n\nRuns restic against this agent's repository, ${repository.describe}, as:\n\n  ${command} [restic arguments...]\n\n${EXAMPLES}`
  }
  const configFile = '<private temporary directory>/ssh_config'
  const repository = serverRepository(config, { alias: SSH_ALIAS, configFile })
  const command = commandLine(config.resticBinary, repository, config)
  const sshConfig = sshConfigText(config, config.sshPrivkeyFile)
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')
  return `usage: runrestic [restic arguments...]

Runs restic against this agent's repository, ${repository.describe}, as:

  ${command} [restic arguments...]

restic reaches the server ${config.serverMode === 'sftp' ? 'over SFTP' : `through ssh, whose forced command on the server serves this repository only (SERVER_MODE=${config.serverMode})`} with a generated ssh config, written for each run to ${configFile}:

${sshConfig}

${EXAMPLES}`
}

const EXAMPLES = `Examples:
  runrestic snapshots                          list the snapshots
  runrestic ls latest                          list the files in the newest snapshot
  runrestic restore latest --target /restore   restore the newest snapshot into /restore
  runrestic check                              verify the repository
  runrestic unlock                             remove stale locks left by a killed restic

restic's exit code is runrestic's exit code. See "restic help" for every command.
`

// restic's global options that take a value as the next argument (restic 0.18, `restic --help`).
const GLOBAL_OPTIONS_WITH_VALUE = new Set([
  '--cacert', '--cache-dir', '--compression', '--http-user-agent', '--key-hint', '--limit-download', '--limit-upload',
  '-o', '--option', '--pack-size', '--password-command', '-p', '--password-file', '-r', '--repo', '--repository-file',
  '--retry-lock', '--stuck-request-timeout', '--tls-client-cert',
])

/** The restic command in runrestic's arguments: the first word that is neither an option nor an option's value. */
export function resticCommand(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') return args[i + 1]
    if (!arg.startsWith('-')) return arg
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) i++
  }
  return undefined
}

/**
 * runrestic's command line. Resolves to restic's exit code; never calls process.exit. restic runs in
 * a process group of its own and gets SIGTERM from us only, so that it can always remove its lock;
 * its output reaches a pipe through us, so that a reader that goes away stops restic the same way.
 */
export async function main(args: string[], context: RunresticContext): Promise<number> {
  try {
    if (args.length === 0 || (args.length === 1 && ['-h', '--help'].includes(args[0] ?? ''))) {
      context.stdout.write(usage(context.env))
      return EXIT.ok
    }
    const log = createLogger({ stream: context.stderr })
    const workspace = await openWorkspace(context.env, log)
    try {
      const { config, repository } = workspace
      const command = resticCommand(args)
      if (config.serverMode === 'append-only' && (command === 'forget' || command === 'prune')) {
        throw new ConfigError(`restic ${command} cannot run here: ${APPEND_ONLY_RETENTION}.`)
      }
      const toTerminal = (context.stdout as { isTTY?: boolean }).isTTY === true
      const restic = { binary: config.resticBinary, repository, retryLock: config.retryLock, bandwidth: config.bandwidth, signal: context.stop }
      // restic's own stdin and stderr, so that a backup can read a pipe and progress shows on a terminal.
      const subprocess = startRestic(restic, args, { stdin: 'inherit', stdout: toTerminal ? 'inherit' : 'pipe', stderr: 'inherit' })
      let outputFailed = false
      const copied = subprocess.stdout
        ? copyOutput(subprocess.stdout, context.stdout, () => {
            outputFailed = true
            subprocess.kill('SIGTERM')
          })
        : undefined
      const [result] = await Promise.all([subprocess, copied])
      if (outputFailed) {
        context.stderr.write('runrestic: the reader of the output went away; restic was stopped.\n')
        return EXIT.failure
      }
      if (result.exitCode !== undefined) return result.exitCode
      if (result.signal) return 128 + (constants.signals[result.signal] ?? 0)
      if (result.code === 'ENOENT') throw resticNotFound(config.resticBinary)
      context.stderr.write(`runrestic: restic could not be started: ${result.shortMessage}\n`)
      return EXIT.failure
    } finally {
      await workspace.close()
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      context.stderr.write(`runrestic: ${error.message}\n`)
      return error.exitCode
    }
    throw error
  }
}
