import { readFile, rename, writeFile } from 'node:fs/promises'
import type { LastRun, ScheduledJob } from '../schedule/controller.js'

/** One row of the table of jobs the controller keeps in JOBS_FILE, for `rds jobs`. */
export interface JobRow {
  name: string
  service: string
  node?: string
  schedule?: string
  nextRun?: string
  running: boolean
  last?: LastRun
  error?: string
  /** Why it cannot run on its node now (the node is down, the service's task there is gone). */
  unavailable?: string
}

export function jobRows(jobs: ScheduledJob[]): JobRow[] {
  return jobs
    .map(({ job, cron, running, last }) => ({
      name: job.name,
      service: job.service,
      node: job.node?.nodeName,
      schedule: job.backup?.schedule,
      nextRun: cron?.nextRun()?.toISOString(),
      running: running !== undefined,
      last,
      error: job.error,
      unavailable: job.unavailable,
    }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

let writes = 0

/** Written whole or not at all: `rds jobs` never reads half a table. */
export async function writeJobsFile(file: string, jobs: ScheduledJob[]): Promise<void> {
  // A name of its own per write: two writes of one process may overlap.
  const partial = `${file}.${process.pid}.${++writes}.partial`
  await writeFile(partial, `${JSON.stringify({ updatedAt: new Date().toISOString(), jobs: jobRows(jobs) }, null, 2)}\n`)
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
