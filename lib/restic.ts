import { execa } from 'execa'
import { ConfigError, EXIT, RunError } from './errors.js'
import type { Logger } from './log.js'
import { repositoryArgs, type Repository } from './repository.js'
import { explainsSshFailure, resticFailure } from './restic-error.js'
import { probeSsh, SFTP_START_FAILED } from './ssh-probe.js'

/** How to run restic against one repository. */
export interface Restic {
  binary: string
  repository: Repository
  retryLock?: string
}

export interface ResticRunOptions {
  log: Logger
  /** Aborting sends restic SIGTERM; restic then removes its lock and exits. */
  signal?: AbortSignal
  /** Each line restic writes to stdout; by default they go to the log with --verbose. */
  onStdoutLine?: (line: string) => void
  /** Exit codes the caller handles itself: restic's stderr is then not logged as a warning. */
  expectedExitCodes?: number[]
  /**
   * Where restic's stdout goes instead of onStdoutLine: 'inherit' (a person's terminal, where restic
   * shows its progress, or a pipe for binary output), or a file.
   */
  stdoutTo?: 'inherit' | { file: string }
}

// Lines of stderr kept to explain a failure.
const STDERR_TAIL = 50

/** restic --json writes errors as JSON; make them read like restic's plain output. */
export function readableResticLine(line: string): string {
  if (!line.startsWith('{')) return line
  try {
    const message = JSON.parse(line) as { message_type?: string; item?: string; error?: { message?: string } }
    if (message.message_type === 'error' && message.error?.message) {
      return message.item ? `error: ${message.item}: ${message.error.message}` : `error: ${message.error.message}`
    }
  } catch {
    // Not JSON after all: print it as it is.
  }
  return line
}

export function resticNotFound(binary: string): ConfigError {
  return new ConfigError(`restic was not found (RESTIC_BINARY is ${JSON.stringify(binary)}); install restic 0.17 or newer, or set RESTIC_BINARY to its path.`)
}

/**
 * Runs one restic command and resolves when it succeeded; otherwise throws a RunError that explains
 * the failure and carries restic's exit code. stderr goes to the log with --verbose, and always when
 * the command fails.
 */
export async function runRestic(restic: Restic, args: string[], options: ResticRunOptions): Promise<void> {
  const { log } = options
  const command = args[0] ?? ''
  const stderr: string[] = []
  const onStdoutLine = options.onStdoutLine ?? ((line: string) => log.debug(`restic: ${line}`))
  const result = await execa(restic.binary, [...repositoryArgs(restic.repository, restic.retryLock), ...args], {
    reject: false,
    stdin: 'ignore',
    stdout:
      options.stdoutTo ??
      function* (line: unknown) {
        onStdoutLine(String(line))
      },
    stderr: function* (line: unknown) {
      const readable = readableResticLine(String(line))
      log.debug(`restic: ${readable}`)
      stderr.push(readable)
      if (stderr.length > STDERR_TAIL) stderr.shift()
    },
    cancelSignal: options.signal,
    // restic needs a moment after SIGTERM to remove its lock; never SIGKILL it.
    forceKillAfterDelay: false,
  })
  if (result.exitCode === 0) return
  if (result.failed && result.exitCode === undefined && !result.isTerminated) {
    if (result.code === 'ENOENT') throw resticNotFound(restic.binary)
    throw new RunError(`restic ${command} could not be started: ${result.shortMessage}.`)
  }
  if (!log.verbose && !options.expectedExitCodes?.includes(result.exitCode ?? -1)) {
    for (const line of stderr) log.warn(`restic: ${line}`)
  }
  if (result.isCanceled || result.isTerminated) {
    throw new RunError(`restic ${command} was interrupted before it finished.`, EXIT.interrupted)
  }
  const { ssh } = restic.repository
  if (ssh && stderr.some((line) => SFTP_START_FAILED.test(line)) && !explainsSshFailure(stderr)) {
    stderr.push(...(await probeSsh(ssh.transport, options.signal)))
  }
  throw resticFailure(command, result.exitCode, stderr, restic.repository)
}

/** Checks that restic is there and new enough for the exit codes this program relies on (0.17). */
export async function checkResticVersion(binary: string): Promise<string> {
  const result = await execa(binary, ['version'], { reject: false, stdin: 'ignore' })
  if (result.failed && result.exitCode === undefined) throw resticNotFound(binary)
  const match = /restic (\d+)\.(\d+)\.(\d+)/.exec(result.stdout)
  if (!match) throw new ConfigError(`RESTIC_BINARY ${JSON.stringify(binary)} is not restic ("${binary} version" printed ${JSON.stringify(result.stdout.slice(0, 80))}).`)
  const [, major, minor] = match.map(Number) as [number, number, number, number]
  if (major === 0 && minor < 17) {
    throw new ConfigError(`restic ${match[0].slice(7)} at RESTIC_BINARY ${JSON.stringify(binary)} is too old; install restic 0.17 or newer.`)
  }
  return match[0].slice(7)
}
