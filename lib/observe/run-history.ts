/** One run of a job as its history keeps it (STATUS_FILE): what the console's job page lists. */
export interface RunRecord {
  kind: string
  startedAt: string
  durationSeconds: number
  ok: boolean
  exitCode?: number
  /** The error, or what the run achieved, in one line. */
  message: string
  /** A backup: the snapshot it saved, and how much of it was new to the repository. */
  snapshot?: string
  bytesAdded?: number
  /** Its last log lines. */
  log?: string[]
}

/** How many runs a job's history keeps, and of each run's log, how many lines of how many characters. */
export const RUNS_KEPT = 20
const LOG_LINES = 20
const LINE_CHARS = 400

/** What of a finished run its history keeps (RunReport, without importing it: the report's types come from here). */
export function runRecord(report: {
  kind: string
  outcome: { startedAt: string; durationSeconds: number; ok: boolean; exitCode?: number; message: string }
  snapshot?: { id: string; bytesAdded?: number }
  logTail?: string[]
}): RunRecord {
  const { startedAt, durationSeconds, ok, exitCode, message } = report.outcome
  return {
    kind: report.kind,
    startedAt,
    durationSeconds,
    ok,
    exitCode,
    message,
    snapshot: report.snapshot?.id,
    bytesAdded: report.snapshot?.bytesAdded,
    log: report.logTail?.slice(-LOG_LINES).map((line) => (line.length > LINE_CHARS ? `${line.slice(0, LINE_CHARS)}…` : line)),
  }
}

/** The history with this run first, the oldest beyond RUNS_KEPT dropped. */
export const withRun = (history: RunRecord[] | undefined, run: RunRecord): RunRecord[] => [run, ...(history ?? [])].slice(0, RUNS_KEPT)
