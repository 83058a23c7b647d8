import type { Writable } from 'node:stream'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  readonly verbose: boolean
  /** Shown only with --verbose: restic's and the hooks' own output. */
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

/** One line per event: an ISO timestamp, the level, the message. Multi-line messages are split. */
export function createLogger(options: {
  verbose?: boolean
  stream?: Writable
  now?: () => Date
}): Logger {
  const verbose = options.verbose ?? false
  const stream = options.stream ?? process.stderr
  const now = options.now ?? (() => new Date())
  const write = (level: LogLevel, message: string) => {
    const stamp = now().toISOString()
    const label = level.toUpperCase().padEnd(5)
    for (const line of message.split(/\r?\n/)) {
      if (line.trim() !== '') stream.write(`${stamp} ${label} ${line}\n`)
    }
  }
  return {
    verbose,
    debug: (message) => {
      if (verbose) write('debug', message)
    },
    info: (message) => write('info', message),
    warn: (message) => write('warn', message),
    error: (message) => write('error', message),
  }
}

/** A logger that also keeps the last `size` lines it was given, for a notification's log tail. */
export function keepingTail(log: Logger, size = 20): { log: Logger; tail: () => string[] } {
  const lines: string[] = []
  const keep = (level: LogLevel, message: string) => {
    for (const line of message.split(/\r?\n/)) if (line.trim() !== '') lines.push(`${level.toUpperCase()} ${line}`)
    if (lines.length > size) lines.splice(0, lines.length - size)
  }
  return {
    log: {
      verbose: log.verbose,
      debug: (message) => log.debug(message),
      info: (message) => (keep('info', message), log.info(message)),
      warn: (message) => (keep('warn', message), log.warn(message)),
      error: (message) => (keep('error', message), log.error(message)),
    },
    tail: () => [...lines],
  }
}
