// The benchmark on a tiny data set, as a smoke test that it still runs to the end. No figure is
// asserted beyond being a measurement: timing belongs in docs/BENCHMARKS.md, not in tests.
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { execa } from 'execa'
import { holdHostEngine } from './fixtures/docker.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
// Without tap's NODE_OPTIONS, so that the benchmark's compiled copy of lib/ stays out of the
// coverage report: lib/ is covered by its own tests. The benchmarks as `npm run bench...` runs them
// once compiled (npm test compiles them first): compiling again here would rewrite dist/ under the
// test files that run beside this one.
const run = (command: string, args: string[]) => execa('env', ['-u', 'NODE_OPTIONS', command, ...args], { cwd: ROOT, reject: false })
const bench = (script: string, args: string[]) => run('node', [`dist-bench/bench/${script}.js`, ...args])

t.test('npm run bench runs to the end on a tiny data set and reports every figure', async (t) => {
  const result = await bench('bench', ['--size', '4', '--reps', '1', '--idle-seconds', '2', '--many-files', '2000', '--json'])
  t.equal(result.exitCode, 0, result.stderr)
  const figures = JSON.parse(result.stdout)
  t.equal(figures.repetitions, 1)
  t.ok(figures.data.bytes > 3_000_000 && figures.data.files > 10, 'the data set was generated')
  for (const key of ['rdsInitial', 'rdsIncremental', 'tarInitial', 'tarIncremental']) {
    t.ok(figures[key].seconds > 0, `${key} has a time`)
    t.ok(figures[key].written > 0, `${key} wrote to the server`)
    t.ok(figures[key].peakRss > 0, `${key} has a peak memory`)
  }
  t.ok(figures.overhead.rds.seconds > 0 && figures.overhead.restic.seconds > 0)
  t.ok(figures.unchanged.rds.seconds > 0 && figures.unchanged.restic.seconds > 0)
  t.ok(figures.rdsIncremental.written < figures.tarIncremental.written, 'the incremental backup writes less than a full archive')
  t.ok(figures.floorSeconds > 0)
  t.ok(figures.idle.rssMedian > 0)
  t.equal(figures.manyFiles.files, 2000)
  t.ok(figures.manyFiles.logBytes > 2000 * 20, 'the verbose log has a line per file')
  t.ok(figures.manyFiles.peakOwnRss > 0 && figures.manyFiles.peakRss >= figures.manyFiles.peakOwnRss, 'the verbose backup has peak memories')

  const table = await run('node', ['dist-bench/bench/bench.js', '--size', '2', '--reps', '1', '--idle-seconds', '1', '--many-files', '500'])
  t.equal(table.exitCode, 0, table.stderr)
  t.match(table.stdout, /1\. Agent overhead[\s\S]*rds \/ restic[\s\S]*rds, nothing changed[\s\S]*2\. Initial, then incremental[\s\S]*3\. The floor[\s\S]*4\. The agent at rest[\s\S]*5\. A verbose backup of 500 files/)
})

t.test('bad options are refused', async (t) => {
  const result = await run('node', ['dist-bench/bench/bench.js', '--size', '0'])
  t.not(result.exitCode, 0)
  t.match(result.stderr, /--size must be a positive number/)
})

t.test('npm run bench:dump runs to the end on a small database and reports every figure', async (t) => {
  // It runs Postgres as services of the machine's Swarm: held as the other files that use it hold it.
  const release = await holdHostEngine()
  const result = await bench('dump', ['--size', '3', '--json']).finally(release)
  t.equal(result.exitCode, 0, result.stderr)
  const figures = JSON.parse(result.stdout)
  t.ok(figures.rows > 20000 && figures.dumpBytes > 2e6, 'the database was generated')
  for (const way of ['toVolume', 'streamed']) {
    for (const run of ['initial', 'again']) t.ok(figures[way][run].seconds > 0, `${way} ${run} has a time`)
  }
  t.ok(figures.toVolume.initial.peakExtraDisk >= figures.dumpBytes, 'the dump into a volume needs its size in disk')
  t.ok(figures.streamed.initial.peakExtraDisk < figures.dumpBytes / 10, 'the streamed dump needs next to none')
})

t.test('npm run bench:transport runs to the end on a few MB and reports every figure', async (t) => {
  const result = await bench('transport', ['--size', '8', '--json'])
  t.equal(result.exitCode, 0, result.stderr)
  const figures = JSON.parse(result.stdout)
  t.equal(figures.files, 2, 'the data was generated')
  for (const way of ['sftp', 'appendOnly']) {
    for (const run of ['initial', 'again', 'restore']) t.ok(figures[way][run] > 0, `${way} ${run} has a time`)
  }
})

t.test('npm run bench:prune runs to the end on a few services and reports every figure', async (t) => {
  const result = await run('node', ['dist-bench/bench/prune.js', '--services', '3', '--size', '3', '--json'])
  t.equal(result.exitCode, 0, result.stderr)
  const figures = JSON.parse(result.stdout)
  t.match(figures, { services: 3, before: { prunes: 3 }, after: { prunes: 1 } })
  t.ok(figures.before.seconds > 0 && figures.after.seconds > 0, 'both have a time')
})
