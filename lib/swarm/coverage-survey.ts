import type Docker from 'dockerode'
import { EXIT, type RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { readStatus } from '../observe/status-file.js'
import type { Restic } from '../restic/command.js'
import { DEFINITION_TAG, isAccepted, rejectedAmong, resticJson, type SnapshotInfo } from '../restic/snapshots.js'
import { computeCoverage, type CoverageRow } from './coverage.js'
import type { SwarmJob } from './discover.js'
import type { SwarmService } from './cluster.js'
import type { JobTemplate } from './job-service.js'
import { optsOut } from './labels.js'
import { surveyNodes } from './volume-survey.js'

/** What a survey of the Swarm's volumes needs: the controller's jobs and services, and the repositories'. */
export interface CoverageInput {
  docker: Docker
  template: JobTemplate
  jobs: SwarmJob[]
  services: SwarmService[]
  resticFor: (repoPath: string) => Restic
  statusFile?: string
  /** Snapshots the guard rejected: no volume is covered by them. */
  rejected: string[]
  log: Logger
  signal?: AbortSignal
}

/** Keeps the newer time of a host's snapshot. */
function newest(times: Map<string, string>, snapshot: SnapshotInfo): void {
  const known = times.get(snapshot.hostname)
  if (!known || Date.parse(snapshot.time) > Date.parse(known)) times.set(snapshot.hostname, snapshot.time)
}

/**
 * Every volume on every node (a survey job on each), and what covers it: rds coverage's rows, with
 * each job's newest accepted snapshot, definition, copies and rehearsal.
 */
export async function surveyCoverage(input: CoverageInput): Promise<CoverageRow[]> {
  const { jobs, log } = input
  const { surveys, unsurveyed } = await surveyNodes(input.docker, input.template, log, input.signal)
  // The newest accepted snapshot of each job, from each repository the jobs use.
  const lastSnapshots = new Map<string, string>()
  const lastDefinitions = new Map<string, string>()
  for (const repoPath of new Set(jobs.flatMap((job) => (job.backup ? [job.backup.repoPath] : [])))) {
    // None there yet (no run of its services so far): their volumes have no snapshot yet, which the rows say.
    const snapshots = await resticJson<SnapshotInfo>(input.resticFor(repoPath), ['snapshots', '--json', '--no-lock'], log, [EXIT.noRepository]).catch((error: RunError) =>
      error.exitCode === EXIT.noRepository ? [] : Promise.reject(error),
    )
    const rejectedHere = rejectedAmong(snapshots, input.rejected)
    for (const snapshot of snapshots) {
      if (snapshot.tags?.includes(DEFINITION_TAG)) newest(lastDefinitions, snapshot)
      if (!isAccepted(snapshot, rejectedHere)) continue
      newest(lastSnapshots, snapshot)
    }
  }
  const optedOut = new Set(input.services.filter(optsOut).map((service) => service.name))
  const rows = computeCoverage(surveys, jobs, lastSnapshots, optedOut, unsurveyed)
  const statuses = input.statusFile ? (await readStatus(input.statusFile)).jobs : {}
  for (const row of rows.filter((candidate) => candidate.job)) {
    row.lastDefinition = lastDefinitions.get(row.job!)
    const copyTo = jobs.find((job) => job.name === row.job)?.backup?.copyTo ?? []
    const copies = statuses[row.job!]?.copies
    if (copyTo.length > 0) row.copies = copyTo.map((destination) => ({ destination, newest: copies?.[destination]?.newest?.time, failed: copies?.[destination]?.lastAttempt?.ok === false || undefined }))
    const rehearsal = statuses[row.job!]?.lastRehearsal
    if (rehearsal) row.rehearsal = rehearsal.ok ? 'passed' : 'FAILED'
  }
  return rows
}
