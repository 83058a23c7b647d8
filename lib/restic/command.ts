import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { execa } from 'execa'
import { ConfigError, EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { repositoryEnv, repositoryOptions, type Repository } from './repository.js'
import { bandwidthOptions, type Bandwidth } from '../config/run-limits.js'
import { explainsSshFailure, resticFailure } from './errors.js'
import { probeSsh, SFTP_START_FAILED } from '../transport/ssh-probe.js'

/** How to run restic against one repository. */
export interface Restic {
  binary: string
  repository: Repository
  retryLock?: string
  /** LIMIT_UPLOAD, LIMIT_DOWNLOAD (or a service's labels): restic's bandwidth. */
  bandwidth?: Bandwidth
  /** Aborting sends every restic command run with this SIGTERM, unless a command gets a signal of its own. */
  signal?: AbortSignal
  /** The user restic runs as (the server's maintenance runs it as the owner of the repositories). */
  user?: { uid: number; gid: number }
}

export interface ResticRunOptions {
  log: Logger
  /** Aborting sends restic SIGTERM; restic then removes its lock and exits. */
  signal?: AbortSignal
  /**
   * Each line restic writes to stdout, waited for before the next is read; by default they go to the
   * log with --verbose. If it throws, restic is stopped and the command fails with that error.
   */
  onStdoutLine?: (line: string) => void | Promise<void>
  /** Exit codes the caller handles itself: restic's stderr is then not logged as a warning. */
  expectedExitCodes?: number[]
  /**
   * Where restic's stdout goes instead of onStdoutLine: 'inherit' hands restic a person's terminal,
   * where it shows its progress; a stream gets restic's bytes as they come, with backpressure.
   */
  stdoutTo?: 'inherit' | Writable
  /** More variables for restic, such as the source repository of restic copy. */
  env?: Record<string, string>
  /** Each line restic writes to stderr, as it comes (a --stdin-from-command's own stderr is among them). */
  onStderrLine?: (line: string) => void
  /** What restic reads on stdin (restic backup --stdin of a small document); nothing when undefined. */
  input?: string
}

// Lines of stderr kept to explain a failure.
const STDERR_TAIL = 50
// Variables of our own environment that would choose another repository or password for restic.
const INHERITED_REPOSITORY_VARIABLES = ['', 'FROM_'].flatMap((prefix) =>
  ['REPOSITORY_FILE', 'PASSWORD', 'PASSWORD_COMMAND'].map((name) => `RESTIC_${prefix}${name}`),
)

/** restic --json writes errors as JSON; make them read like restic's plain output. */
export function readableResticLine(raw: string): string {
  // restic clears the terminal line before some messages, also when stderr is not a terminal.
  const line = raw.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')
  if (!line.startsWith('{')) return line
  try {
    const message = JSON.parse(line) as { message_type?: string; item?: string; message?: string; error?: { message?: string } }
    if (message.message_type === 'error' && message.error?.message) {
      return message.item ? `error: ${message.item}: ${message.error.message}` : `error: ${message.error.message}`
    }
    // restic 0.17+ ends a failed --json command with its fatal error as one JSON document.
    if (message.message_type === 'exit_error' && message.message) return message.message.split('\n').join(' ')
  } catch {
    // Not JSON after all: print it as it is.
  }
  return line
}

export function resticNotFound(binary: string): ConfigError {
  return new ConfigError(`restic was not found (RESTIC_BINARY is ${JSON.stringify(binary)}); install restic 0.17 or newer, or set RESTIC_BINARY to its path.`)
}

/** The environment restic runs with: ours, less any other repository or password, plus the repository's. */
export function resticEnv(repository: Repository, extra: Record<string, string> = {}): Record<string, string | undefined> {
  const cleared = Object.fromEntries(INHERITED_REPOSITORY_VARIABLES.map((name) => [name, undefined]))
  return { ...cleared, ...repositoryEnv(repository), ...extra }
}

/**
 * Hands each line to onLine, one at a time. After onLine has failed, the rest is read and dropped,
 * so that restic is never stuck writing to a pipe nobody reads, and `onFailure` is told once.
 */
async function forEachLine(stream: Readable, onLine: (line: string) => void | Promise<void>, onFailure: (error: unknown) => void): Promise<void> {
  let failed = false
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (failed) continue
    try {
      await onLine(line)
    } catch (error) {
      failed = true
      onFailure(error)
    }
  }
}

/**
 * Copies restic's output into `destination` with backpressure. A destination that fails (a reader
 * that went away: EPIPE) is reported to `onFailure`, whose caller stops restic with SIGTERM so that
 * it removes its lock; the rest of restic's output is read and dropped meanwhile, so that restic is
 * never stuck writing to a pipe nobody reads.
 */
export function copyOutput(source: Readable, destination: Writable, onFailure: (error: Error) => void): Promise<void> {
  let failed = false
  const onError = (error: Error) => {
    if (failed) return
    failed = true
    source.unpipe(destination)
    source.resume()
    onFailure(error)
  }
  // Resolves once restic's output has all been read, which may be after restic has exited.
  const ended = finished(source).catch(() => undefined)
  // Closed before restic's output ended (a reader gone): pipe() would leave restic's output unread,
  // and restic blocked in a write for ever, deaf to SIGTERM, holding its lock.
  const onClose = () => source.readableEnded || onError(new Error('the output was closed'))
  if (destination.errored || destination.destroyed) onError(destination.errored ?? new Error('the output was closed'))
  else {
    destination.on('error', onError)
    destination.on('close', onClose)
    source.pipe(destination, { end: false })
    void ended.then(() => {
      destination.off('error', onError)
      destination.off('close', onClose)
    })
  }
  return ended
}

const outputFailureReason = (error: unknown) =>
  (error as NodeJS.ErrnoException).code === 'EPIPE' ? 'the reader went away' : error instanceof Error ? error.message : String(error)

/**
 * Starts restic against the repository, never buffering its output. restic runs in a process group
 * of its own, so that a signal meant for us (Ctrl-C, `timeout`, `tini -g`) reaches restic only
 * through us, as SIGTERM (on `signal`), and its ssh stays up while restic removes its lock.
 */
export function startRestic(
  restic: Restic,
  args: string[],
  stdio: { stdin: 'ignore' | 'inherit' | 'pipe'; stdout: 'pipe' | 'inherit'; stderr: 'pipe' | 'inherit' },
  options: { signal?: AbortSignal; env?: Record<string, string>; input?: string } = {},
) {
  return execa(restic.binary, [...repositoryOptions(restic.repository, restic.retryLock), ...bandwidthOptions(restic.bandwidth), ...args], {
    ...(options.input === undefined ? stdio : { ...stdio, stdin: undefined, input: options.input }),
    reject: false,
    buffer: false,
    env: resticEnv(restic.repository, options.env),
    detached: true,
    ...restic.user,
    cancelSignal: options.signal ?? restic.signal,
    // restic needs a moment after SIGTERM to remove its lock; never SIGKILL it.
    forceKillAfterDelay: false,
  })
}

/**
 * Runs one restic command and resolves when it succeeded; otherwise throws a RunError that explains
 * the failure and carries restic's exit code. Nothing restic prints is kept in memory but the last
 * lines of stderr.
 */
export async function runRestic(restic: Restic, args: string[], options: ResticRunOptions): Promise<void> {
  const { log } = options
  const command = args[0] ?? ''
  const stderr: string[] = []
  const onStdoutLine = options.onStdoutLine ?? ((line: string) => log.debug(`restic: ${line}`))
  const stdio = { stdin: options.input === undefined ? 'ignore' : 'pipe', stdout: options.stdoutTo === 'inherit' ? 'inherit' : 'pipe', stderr: 'pipe' } as const
  const subprocess = startRestic(restic, args, stdio, options)
  let outputFailure: unknown
  const onOutputFailure = (error: unknown) => {
    outputFailure ??= error
    subprocess.kill('SIGTERM')
  }
  const readers: Promise<void>[] = []
  if (subprocess.stdout && options.stdoutTo && options.stdoutTo !== 'inherit') {
    readers.push(copyOutput(subprocess.stdout, options.stdoutTo, onOutputFailure))
  } else if (subprocess.stdout) {
    readers.push(forEachLine(subprocess.stdout, onStdoutLine, onOutputFailure))
  }
  if (subprocess.stderr) {
    const keepLine = (line: string) => {
      const readable = readableResticLine(line)
      log.debug(`restic: ${readable}`)
      options.onStderrLine?.(readable)
      stderr.push(readable)
      if (stderr.length > STDERR_TAIL) stderr.shift()
    }
    readers.push(forEachLine(subprocess.stderr, keepLine, onOutputFailure))
  }
  const [result] = await Promise.all([subprocess, ...readers])
  if (result.exitCode === 0 && outputFailure === undefined) return
  if (result.failed && result.exitCode === undefined && result.signal === undefined) {
    if (result.code === 'ENOENT') throw resticNotFound(restic.binary)
    throw new RunError(`restic ${command} could not be started: ${result.shortMessage}.`)
  }
  if (outputFailure !== undefined) {
    if (outputFailure instanceof RunError || outputFailure instanceof ConfigError) throw outputFailure
    throw new RunError(`the output of restic ${command} could not be written whole (${outputFailureReason(outputFailure)}); restic was stopped.`)
  }
  if (!log.verbose && !options.expectedExitCodes?.includes(result.exitCode ?? -1)) {
    for (const line of stderr) log.warn(`restic: ${line}`)
  }
  if (result.isCanceled) throw new RunError(`restic ${command} was interrupted before it finished.`, EXIT.interrupted)
  if (result.signal !== undefined) {
    throw new RunError(
      `restic ${command} was killed by ${result.signal}${result.signal === 'SIGKILL' ? ' (the kernel does this when memory runs out: see "docker service ps" or dmesg)' : ''}; ` +
        'its lock may be left in the repository.',
    )
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
