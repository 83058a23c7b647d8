import type { Command } from 'commander'
import { checking } from './checking.js'
import { describeDuration } from '../config/duration.js'
import { EXIT } from '../errors.js'
import type { CoverageRow } from '../swarm/coverage.js'
import { surveyCoverage } from '../swarm/coverage-survey.js'
import { createLogger } from '../observe/log.js'
import { swarmConfig, type CommandContext } from './context.js'
import { rejectedSnapshots } from '../observe/status-file.js'
import { withController } from './with-controller.js'
import { writeOut } from '../output.js'

const ago = (time: string, now: number) => `${describeDuration(Math.max(0, now - Date.parse(time)))} ago`

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
          const rows = await surveyCoverage({ ...swarm, jobs, services: controller.services, statusFile: config.statusFile, rejected: await rejectedSnapshots(config), log, signal: cli.stop })
          if (options.json) await writeOut(cli.stdout, `${JSON.stringify(rows, null, 2)}\n`)
          else for (const row of rows) await writeOut(cli.stdout, `${describeRow(row, Date.now())}\n`)
          return rows.some((row) => row.status === 'NOT COVERED' || row.status === 'NOT SURVEYED') ? EXIT.failure : EXIT.ok
        })),
      )
    })
}
