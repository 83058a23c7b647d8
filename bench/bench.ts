// npm run bench [-- --size MB --reps N --idle-seconds S --json]: measures rds against bare restic,
// against a full tar archive over ssh, and against the time to read the data once. See docs/BENCHMARKS.md.
import { Command } from 'commander'
import { runBenchmark, type Options } from './run.js'
import { formatTable } from './report.js'

const program = new Command('bench')
  .description('measure rds against bare restic, a full tar archive over ssh, and the time to read the data once')
  .option('--size <MB>', 'size of the generated data set in MB', (v) => Number(v), 500)
  .option('--reps <n>', 'repetitions; figures are medians', (v) => Number(v), 3)
  .option('--idle-seconds <s>', 'how long to watch the idle agent', (v) => Number(v), 60)
  .option('--seed <n>', 'seed of the data set', (v) => Number(v), 1)
  .option('--many-files <n>', 'files in the data set of the verbose backup (section 5)', (v) => Number(v), 500_000)
  .option('--json', 'print the figures as JSON')
  .action(async (options: Options) => {
    for (const [name, value] of Object.entries({ size: options.size, reps: options.reps, 'idle-seconds': options.idleSeconds, 'many-files': options.manyFiles })) {
      if (!(value > 0)) program.error(`bench: --${name} must be a positive number`)
    }
    const result = await runBenchmark({ ...options, json: Boolean(options.json) })
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatTable(result))
  })

await program.parseAsync()
