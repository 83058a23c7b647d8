import { readFile, rename, writeFile } from 'node:fs/promises'

/** The outcome of a job's last run, for `rds jobs`. */
export interface LastRun {
  /** When the run was due: the schedule's tick, or the moment it was asked for. */
  startedAt: string
  /** When the backup began on the node (the job's own clock), if it got that far. */
  backupStartedAt?: string
  finishedAt: string
  ok: boolean
  message: string
  /** The run's exit code: 0, or the job's restic exit code (3, 10, 11, 12...), or 1. */
  exitCode?: number
}

/** One row of the table of jobs the controller keeps in JOBS_FILE, for `rds jobs`. */
export interface JobRow {
  name: string
  service: string
  node?: string
  schedule?: string
  nextRun?: string
  running: boolean
  /** Its due run waits to start: since when, and why (its node's or repository's limit, the window). */
  queued?: string
  last?: LastRun
  error?: string
  /** Why it cannot run on its node now (the node is down, the service's task there is gone). */
  unavailable?: string
}

let writes = 0

/** Written whole or not at all: `rds jobs` never reads half a table. */
export async function writeJobsFile(file: string, rows: JobRow[]): Promise<void> {
  // A name of its own per write: two writes of one process may overlap.
  const partial = `${file}.${process.pid}.${++writes}.partial`
  await writeFile(partial, `${JSON.stringify({ updatedAt: new Date().toISOString(), jobs: rows }, null, 2)}\n`)
  await rename(partial, file)
}


export interface JobsTable {
  updatedAt: string
  jobs: JobRow[]
}

/** The table the controller last wrote; undefined when there is none yet. */
export async function readJobsFile(file: string): Promise<JobsTable | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  return JSON.parse(text) as JobsTable
}
