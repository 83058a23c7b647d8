import { createServer, type Server } from 'node:http'
import { Counter, Gauge, Registry } from 'prom-client'
import { ConfigError } from '../errors.js'
import type { Logger } from './log.js'
import { type JobStatus, type Outcome, type StatusTable } from './status.js'
import { readStatus } from './status-file.js'
import { isOverdue, overdueAt } from './overdue.js'

const seconds = (iso: string) => Date.parse(iso) / 1000
const ended = (outcome: Outcome | undefined) => outcome && seconds(outcome.finishedAt)
const ok = (outcome: Outcome | undefined) => outcome && (outcome.ok ? 1 : 0)
function overdueSeconds(status: JobStatus): number | undefined {
  const at = overdueAt(status)
  return at === undefined ? undefined : at.getTime() / 1000
}

/** Each per-job gauge: its name, its help, and its value from the job's status (none: no sample). */
const PER_JOB: [string, string, (status: JobStatus) => number | undefined][] = [
  ['rds_last_success_timestamp_seconds', 'When the last successful backup of the job ended (Unix time).', (status) => ended(status.lastSuccess)],
  ['rds_last_run_timestamp_seconds', "When the job's last backup run ended (Unix time).", (status) => ended(status.lastAttempt)],
  ['rds_last_run_status', "1 if the job's last backup run succeeded, 0 if it failed.", (status) => ok(status.lastAttempt)],
  ['rds_last_run_duration_seconds', "How long the job's last backup run took.", (status) => status.lastAttempt?.durationSeconds],
  ['rds_bytes_added', 'Bytes the last snapshot added to the repository (after deduplication, before compression).', (status) => status.lastSnapshot?.bytesAdded],
  ['rds_files', 'Files in the last snapshot.', (status) => status.lastSnapshot?.files],
  ['rds_snapshots', 'Snapshots of the job in its repository after its last run.', (status) => status.snapshots],
  ['rds_overdue', '1 if the job has had no success within OVERDUE_AFTER.', (status) => (overdueAt(status) ? (isOverdue(status) ? 1 : 0) : undefined)],
  ['rds_overdue_timestamp_seconds', 'When the job becomes OVERDUE without a success (Unix time).', (status) => overdueSeconds(status)],
  ['rds_label_error', '1 if the service has a label error, so that its job cannot run.', (status) => (status.error ? 1 : 0)],
  ['rds_last_check_status', "1 if the last restic check of the job's repository passed, 0 if it failed.", (status) => ok(status.lastCheck)],
  ['rds_last_check_timestamp_seconds', "When the last restic check of the job's repository ended (Unix time).", (status) => ended(status.lastCheck)],
  ['rds_last_drill_status', "1 if the job's last restore drill passed, 0 if it failed.", (status) => ok(status.lastDrill)],
  ['rds_last_downtime_seconds', "How long the job's service was last stopped (rds.backup.stop: scaled to 0 or paused) for a backup.", (status) => status.lastDowntimeSeconds],
  ['rds_last_drill_timestamp_seconds', "When the job's last restore drill ended (Unix time).", (status) => ended(status.lastDrill)],
  ['rds_last_rehearsal_status', "1 if the last rehearsal of the job's stack passed, 0 if it failed.", (status) => ok(status.lastRehearsal)],
  ['rds_last_rehearsal_timestamp_seconds', "When the last rehearsal of the job's stack ended (Unix time).", (status) => ended(status.lastRehearsal)],
]

/**
 * The Prometheus metrics of every job, as STATUS_FILE records them: what every process recorded
 * (the agent, an `rds backup` beside it, the controller), kept across restarts. `render` reads
 * the table it is given into the metrics and prints them in Prometheus' text format.
 */
export function statusMetrics(): { contentType: string; render: (table: StatusTable) => Promise<string> } {
  const registry = new Registry()
  const gauges = PER_JOB.map(([name, help, value]) => ({ gauge: new Gauge({ name, help, labelNames: ['job'], registers: [registry] }), value }))
  const runs = new Counter({ name: 'rds_runs_total', help: 'Backup runs that ended, by result.', labelNames: ['job', 'result'], registers: [registry] })
  const copyStatus = new Gauge({ name: 'rds_last_copy_status', help: "1 if the job's last copy into the destination (rds.backup.copy-to) succeeded, 0 if it failed.", labelNames: ['job', 'destination'], registers: [registry] })
  const copyNewest = new Gauge({ name: 'rds_copy_newest_snapshot_timestamp_seconds', help: "When the newest of the job's snapshots in the destination was taken (Unix time): the copy's age.", labelNames: ['job', 'destination'], registers: [registry] })
  const repositorySize = new Gauge({ name: 'rds_repository_size_bytes', help: 'The size of the repository on the server, as its last check found it.', labelNames: ['repository'], registers: [registry] })
  return {
    contentType: registry.contentType,
    render: async (table) => {
      registry.resetMetrics()
      for (const [job, status] of Object.entries(table.jobs)) {
        for (const { gauge, value } of gauges) {
          const sample = value(status)
          if (sample !== undefined) gauge.set({ job }, sample)
        }
        for (const result of ['success', 'failure'] as const) runs.inc({ job, result }, status.runs?.[result] ?? 0)
        for (const [destination, copy] of Object.entries(status.copies ?? {})) {
          if (copy.lastAttempt) copyStatus.set({ job, destination }, ok(copy.lastAttempt)!)
          if (copy.newest) copyNewest.set({ job, destination }, seconds(copy.newest.time))
        }
      }
      for (const [repository, { sizeBytes }] of Object.entries(table.repositories ?? {})) if (sizeBytes !== undefined) repositorySize.set({ repository }, sizeBytes)
      return registry.metrics()
    },
  }
}

/** Serves GET /metrics on `port` (METRICS_PORT) until `stop` is aborted. */
export async function serveMetrics(options: { port: number; statusFile: string; log: Logger; stop: AbortSignal }): Promise<Server> {
  const metrics = statusMetrics()
  // One scrape at a time: each fills the same metrics from the table it read.
  let scraping = Promise.resolve()
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at GET /metrics\n')
      return
    }
    scraping = scraping.then(() =>
      readStatus(options.statusFile)
        .then(metrics.render)
        .then(
          (text) => void response.writeHead(200, { 'content-type': metrics.contentType }).end(text),
          (error: Error) => {
            options.log.warn(`metrics: cannot read STATUS_FILE: ${error.message}`)
            response.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read STATUS_FILE: ${error.message}\n`)
          },
        ),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new ConfigError(`METRICS_PORT ${options.port} cannot be listened on (${error.message}); choose a free port.`)))
    server.listen(options.port, () => resolve())
  })
  options.log.info(`metrics: serving Prometheus metrics at :${options.port}/metrics`)
  options.stop.addEventListener('abort', () => server.close(), { once: true })
  return server
}
