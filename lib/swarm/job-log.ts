import type Docker from 'dockerode'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from '../observe/log.js'
import { demultiplexer } from '../docker/stream.js'

type Stream = 'stdout' | 'stderr'

/** A writable end for a service's multiplexed log that hands on each whole line, of stdout and stderr. */
function lineSplitter(onLine: (stream: Stream, line: string) => void): Writable {
  const partial: Record<Stream, string> = { stdout: '', stderr: '' }
  const add = (stream: Stream, chunk: Buffer) => {
    const lines = (partial[stream] + chunk.toString('utf8')).split('\n')
    partial[stream] = lines.pop()!
    for (const line of lines) if (line.trim() !== '') onLine(stream, line)
  }
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      add('stdout', chunk)
      done()
    },
  })
  const demux = demultiplexer(stdout, (chunk) => add('stderr', chunk))
  // A last line without its newline: registered before any reader's, so it is handed on first.
  demux.on('finish', () => {
    for (const stream of ['stdout', 'stderr'] as const) if (partial[stream].trim() !== '') onLine(stream, partial[stream])
  })
  return demux
}

/**
 * A finished job service's output, line by line, stdout and stderr in the order written. Read
 * whole: it is a job's own log or a survey, not a volume's data.
 */
export async function serviceOutput(docker: Docker, serviceId: string): Promise<{ stream: Stream; line: string }[]> {
  const raw = (await docker.getService(serviceId).logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer
  const lines: { stream: Stream; line: string }[] = []
  await pipeline(Readable.from([raw]), lineSplitter((stream, line) => lines.push({ stream, line })))
  return lines
}

/**
 * Follows a job service's log while it runs, each line handed on as it comes, until stop(): so
 * that what a job says reaches the controller's log at once, and stays there if its node dies
 * before the job's log can be read whole. A log that cannot be followed is said once, and left.
 */
export function followServiceLog(docker: Docker, serviceId: string, onLine: (line: string) => void, log: Logger, name: string): { stop: () => void } {
  // The engine may answer a followed log only with its first line: stop() aborts the call itself.
  const abort = new AbortController()
  void (async () => {
    try {
      const source = (await docker.getService(serviceId).logs({ stdout: true, stderr: true, follow: true, abortSignal: abort.signal })) as unknown as Readable
      abort.signal.addEventListener('abort', () => source.destroy(), { once: true })
      if (abort.signal.aborted) return source.destroy()
      await pipeline(source, lineSplitter((_stream, line) => !abort.signal.aborted && onLine(line)))
    } catch (error) {
      if (!abort.signal.aborted) log.debug(`${name}: could not follow the job's log while it runs (${(error as Error).message}); it is read when the job ends`)
    }
  })()
  return { stop: () => abort.abort() }
}

/** What a job's own log says of its run, as the controller reads it. */
export interface JobSaid {
  /** When the backup began on the node: how long Swarm took to start it. */
  backupStartedAt?: string
  /** How long the job paused the service (STOP_DURING_BACKUP=pause), in seconds. */
  downtimeSeconds?: number
  /** Snapshots the job's guard rejected. */
  rejectedSnapshots?: string[]
  /** A failed run whose backup is complete and accepted (what failed came after it: a post-hook). */
  backupAccepted?: boolean
}

// What the job's log says when it unpaused its service (lib/run/pause.ts).
const DOWNTIME_LINE = /^stop: unpaused .* \(downtime ([\d.]+) s\)$/
// What it says when its guard rejected a snapshot (lib/run/guard.ts).
const REJECTED_LINE = /^guard: rejected snapshot ([0-9a-f]{64})$/

/**
 * Reads a job's log lines, each once: relays it to the controller's log at the level the job
 * logged it, and keeps what it says of the run (when its backup began, how long it paused its
 * service, the snapshots its guard rejected, a backup complete before a later step failed).
 */
export class JobLogReader {
  /** How many lines were read. */
  count = 0
  readonly said: JobSaid = { rejectedSnapshots: [] }

  constructor(
    private readonly jobName: string,
    private readonly log: Logger,
  ) {}

  read(line: string): void {
    this.count++
    const logged = /^(\S+Z) (DEBUG|INFO|WARN|ERROR)\s+(.*)$/.exec(line)
    const level = (logged?.[2]?.toLowerCase() ?? 'info') as 'debug' | 'info' | 'warn' | 'error'
    const text = logged?.[3] ?? ''
    if (text.startsWith('run: starting backup')) this.said.backupStartedAt ??= logged![1]
    if (text.startsWith('run: the backup is complete and accepted')) this.said.backupAccepted = true
    const downtime = DOWNTIME_LINE.exec(text)
    if (downtime) this.said.downtimeSeconds = Number(downtime[1])
    const rejected = REJECTED_LINE.exec(text)
    if (rejected && !this.said.rejectedSnapshots!.includes(rejected[1]!)) this.said.rejectedSnapshots!.push(rejected[1]!)
    this.log[level](`${this.jobName}: ${logged?.[3] ?? line}`)
  }
}
