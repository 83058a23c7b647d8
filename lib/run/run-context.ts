import type { RunError } from '../errors.js'
import type { BackupSummary } from '../restic/backup-summary.js'
import type { HookEngine } from '../docker/engine.js'
import type { Logger } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import type { Bandwidth } from '../config/run-limits.js'

export interface RunContext {
  resticBinary: string
  retryLock?: string
  /** LIMIT_UPLOAD, LIMIT_DOWNLOAD: restic's bandwidth. */
  bandwidth?: Bandwidth
  log: Logger
  /** Aborting stops the run: restic is sent SIGTERM, and no further step starts but the post-hook. */
  signal?: AbortSignal
  /** Called only when the job has hooks, so that a job without them needs no Docker engine. */
  engine: () => HookEngine | Promise<HookEngine>
  /** Where the job's run lock lives (LOCK_DIR): one run of a job at a time, across processes. */
  lockDir: string
  /** Where the run is recorded (STATUS_FILE) and notified, if anywhere. */
  reporter?: Reporter
}

export interface RunResult {
  exitCode: number
  error?: RunError
  /** The backup of the files, or of the dump for a job that has only a dump. */
  summary?: BackupSummary
  /** How long the service was paused for the backup (STOP_DURING_BACKUP=pause), in seconds. */
  downtimeSeconds?: number
  /** Snapshots the guard rejected in this run. */
  rejected: string[]
}
