import type { JobStatus, Outcome, SnapshotRecord } from './status.js'

/** Whether a run recorded as going is really going: its process may have been killed. */
export function isRunning(status: JobStatus): boolean {
  if (!status.running) return false
  try {
    process.kill(status.running.pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The attempt's outcome in the table: the last attempt, and the last success or one more failure in a row. */
export function recordOutcome(status: JobStatus, outcome: Outcome): void {
  status.lastAttempt = outcome
  delete status.running
  status.runs ??= { success: 0, failure: 0 }
  status.runs[outcome.ok ? 'success' : 'failure']++
  if (outcome.ok) {
    status.lastSuccess = outcome
    status.failuresInARow = 0
  } else {
    status.failuresInARow = (status.failuresInARow ?? 0) + 1
  }
}

export function outcomeOf(startedAt: Date, finishedAt: Date, ok: boolean, message: string, exitCode?: number): Outcome {
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    ok,
    exitCode,
    message,
    durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
  }
}

/** A snapshot as `restic snapshots --json` lists it, as the status keeps it. */
export function snapshotRecord(snapshot: { id: string; time: string; summary?: { total_files_processed: number; total_bytes_processed: number; data_added?: number } }, repository: string): SnapshotRecord {
  return {
    id: snapshot.id,
    time: snapshot.time,
    repository,
    files: snapshot.summary?.total_files_processed,
    bytesAdded: snapshot.summary?.data_added,
    bytesProcessed: snapshot.summary?.total_bytes_processed,
  }
}
