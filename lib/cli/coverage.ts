import type { Command } from 'commander'
import { checking } from './checking.js'
import { describeDuration } from '../config/duration.js'
import { surveyNodes } from '../swarm/volume-survey.js'
import { EXIT, type RunError } from '../errors.js'
import { computeCoverage, type CoverageRow } from '../swarm/coverage.js'
import { optsOut } from '../swarm/labels.js'
import { createLogger } from '../observe/log.js'
import { DEFINITION_TAG, isAccepted, rejectedAmong, resticJson, type SnapshotInfo } from '../restic/snapshots.js'
import { readStatus } from '../observe/status.js'
import { rejectedSnapshots, swarmConfig, type CommandContext } from './context.js'
import { withController } from './with-controller.js'
import { writeOut } from '../output.js'

const ago = (time: string, now: number) => `${describeDuration(Math.max(0, now - Date.parse(time)))} ago`

/** Keeps the newer time of a host's snapshot. */
function newest(times: Map<string, string>, snapshot: SnapshotInfo): void {
  const known = times.get(snapshot.hostname)
  if (!known || Date.parse(snapshot.time) > Date.parse(known)) times.set(snapshot.hostname, snapshot.time)
}

function describeRow(row: CoverageRow, now: number): string {
  const used = row.services.length > 0 ? `used by ${row.services.join(', ')}` : ''
  const detail =
    row.status === 'covered'
      ? `by ${row.job}, ${row.lastSnapshot ? `last snapshot ${ago(row.lastSnapshot, now)}` : 'no snapshot yet'}, ${row.lastDefinition ? `definition saved ${ago(row.lastDefinition, now)}` : 'no definition saved yet'}${(row.copies ?? []).map((copy) => `, copy into ${copy.destination} ${copy.newest ? `of ${ago(copy.newest, now)}` : 'none yet'}${copy.failed ? ' (last copy FAILED)' : ''}`).join('')}${row.rehearsal ? `, rehearsal ${row.rehearsal}` : ''}`
      : row.status === 'excluded'
        ? `by the labels of ${row.services.join(', ')}`
        : used
  return [row.node, row.volume, row.status, detail, ...row.flags].filter(Boolean).join('  ')
}

export function addCoverageCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('coverage')
    .description('with MODE=swarm: every volume on every node, covered by a backup, excluded by label, or NOT COVERED, and every node NOT SURVEYED; exit 1 when a volume in use is not covered or a node was not surveyed, 4 when the Swarm or a repository could not be asked')
    .option('--json', 'print them as JSON, for scripts')
    .action(async (options: { json?: boolean }) => {
      const config = swarmConfig(cli.env, 'coverage')
      const log = createLogger({ stream: cli.stderr })
      setExitCode(
        await checking('the Swarm and the repositories', () => withController(cli, log, false, async (controller, swarm) => {
          await controller.sync('rds coverage')
          const jobs = [...controller.jobs.values()].map((scheduled) => scheduled.job)
          const { surveys, unsurveyed } = await surveyNodes(swarm.docker, swarm.template, log, cli.stop)
          // The newest accepted snapshot of each job, from each repository the jobs use.
          const lastSnapshots = new Map<string, string>()
          const lastDefinitions = new Map<string, string>()
          const rejected = await rejectedSnapshots(config)
          for (const repoPath of new Set(jobs.flatMap((job) => (job.backup ? [job.backup.repoPath] : [])))) {
            // None there yet (no run of its services so far): their volumes have no snapshot yet, which the rows say.
            const snapshots = await resticJson<SnapshotInfo>(swarm.resticFor(repoPath), ['snapshots', '--json', '--no-lock'], log, [EXIT.noRepository]).catch((error: RunError) =>
              error.exitCode === EXIT.noRepository ? [] : Promise.reject(error),
            )
            const rejectedHere = rejectedAmong(snapshots, rejected)
            for (const snapshot of snapshots) {
              if (snapshot.tags?.includes(DEFINITION_TAG)) newest(lastDefinitions, snapshot)
              if (!isAccepted(snapshot, rejectedHere)) continue
              newest(lastSnapshots, snapshot)
            }
          }
          const optedOut = new Set(controller.services.filter(optsOut).map((service) => service.name))
          const rows = computeCoverage(surveys, jobs, lastSnapshots, optedOut, unsurveyed)
          const statuses = config.statusFile ? (await readStatus(config.statusFile)).jobs : {}
          for (const row of rows.filter((candidate) => candidate.job)) {
            row.lastDefinition = lastDefinitions.get(row.job!)
            const copyTo = jobs.find((job) => job.name === row.job)?.backup?.copyTo ?? []
            const copies = statuses[row.job!]?.copies
            if (copyTo.length > 0) row.copies = copyTo.map((destination) => ({ destination, newest: copies?.[destination]?.newest?.time, failed: copies?.[destination]?.lastAttempt?.ok === false || undefined }))
            const rehearsal = statuses[row.job!]?.lastRehearsal
            if (rehearsal) row.rehearsal = rehearsal.ok ? 'passed' : 'FAILED'
          }
          if (options.json) await writeOut(cli.stdout, `${JSON.stringify(rows, null, 2)}\n`)
          else for (const row of rows) await writeOut(cli.stdout, `${describeRow(row, Date.now())}\n`)
          return rows.some((row) => row.status === 'NOT COVERED' || row.status === 'NOT SURVEYED') ? EXIT.failure : EXIT.ok
        })),
      )
    })
}
