// npm run bench:swarm [-- --reps N --services N --json]: the controller on the simulated 3-node Swarm
// (test/e2e/start-swarm): how long from a schedule's tick to the backup starting on another node,
// from a label change to the new schedule, and how much memory the controller holds with many
// labelled services. See docs/BENCHMARKS.md.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { execa } from 'execa'
import { nodeEnv, sim, startSimulatedSwarm, waitFor } from '../test/fixtures/swarm.js'
import { deployStack, rds, removeStack, STACK } from '../test/fixtures/swarm-stack.js'
import { median } from './measure.js'
import { controllerMemoryMiB, controllerProcessMiB } from './controller-memory.js'

interface Options {
  reps: number
  services: number
  json: boolean
}

interface JobRow {
  name: string
  schedule?: string
  last?: { startedAt: string; backupStartedAt?: string; ok: boolean }
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`)
const jobs = async () => JSON.parse((await rds(['jobs', '--json'])).stdout) as JobRow[]
const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000

/** Waits for a line of the controller's log that matches, following it; resolves when it came. */
function nextLogLine(pattern: RegExp): { arrived: Promise<number>; stop: () => void } {
  const follow = execa('docker', ['service', 'logs', '--raw', '--follow', '--since', '1s', `${STACK}_agent`], { env: nodeEnv('rds-sim1'), reject: false, buffer: false })
  const arrived = new Promise<number>((resolve) => {
    for (const stream of [follow.stdout, follow.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        if (pattern.test(chunk.toString())) resolve(Date.now())
      })
    }
  })
  return { arrived, stop: () => follow.kill() }
}

async function runSwarmBenchmark(options: Options) {
  const dir = await mkdtemp(join(tmpdir(), 'rds-bench-swarm-'))
  const extra = Array.from({ length: options.services }, (_, i) => `rds-bench-${i + 1}`)
  try {
    progress('starting the 3-node Swarm and deploying stack.yml')
    await startSimulatedSwarm()
    await removeStack([], ['db-restored', ...extra])
    await deployStack(dir)

    // 1. From the tick to the backup starting on rds-sim3 (web has no hooks): every 15 s.
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.run-at=*/15 * * * * *', `${STACK}_web`])
    const delays: number[] = []
    let seen = ''
    while (delays.length < options.reps) {
      const web = await waitFor('another run of backup_web', async () => {
        const row = (await jobs()).find((job) => job.name === `${STACK}_web`)
        return row?.last?.backupStartedAt && row.last.startedAt !== seen && row.last.ok ? row : undefined
      }, 120)
      seen = web.last!.startedAt
      delays.push(seconds(web.last!.startedAt, web.last!.backupStartedAt!))
      progress(`tick to backup start: ${delays.at(-1)!.toFixed(2)} s`)
    }
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.run-at=0 0 1 1 *', `${STACK}_web`])

    // 2. From a label change (the API call returning) to the controller's log line with the new schedule.
    const labelDelays: number[] = []
    for (let rep = 0; rep < options.reps; rep++) {
      const schedule = `0 ${rep + 1} 1 1 *`
      const watch = nextLogLine(new RegExp(`backup_db: schedule "[^"]*" -> "${schedule.replace(/\*/g, '\\*')}"`))
      await new Promise((resolve) => setTimeout(resolve, 1500)) // the follow is attached
      const started = Date.now()
      await execa('docker', ['service', 'update', '--detach', '--quiet', '--label-add', `rds.backup.run-at=${schedule}`, `${STACK}_db`], { env: nodeEnv('rds-sim1') })
      const updated = Date.now()
      labelDelays.push(((await watch.arrived) - updated) / 1000)
      watch.stop()
      progress(`label change to new schedule: ${labelDelays.at(-1)!.toFixed(2)} s (the update call itself ${((updated - started) / 1000).toFixed(2)} s)`)
    }

    // 3. The controller's memory with 2 labelled services, then with `services` more (no replicas:
    // the controller holds their jobs and schedules all the same).
    const memoryBefore = await controllerMemoryMiB()
    const processBefore = await controllerProcessMiB()
    progress(`creating ${options.services} labelled services`)
    for (const name of extra) {
      await sim('rds-sim1', ['service', 'create', '--detach', '--quiet', '--name', name, '--replicas', '0', '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 4 * * *', '--mount', `type=volume,src=${name},dst=/data`, 'debian:trixie-slim', 'sleep', 'infinity'])
    }
    await waitFor(`${options.services + 2} jobs`, async () => (await jobs()).length === options.services + 2 || undefined, 120)
    const memoryAfter = await controllerMemoryMiB()
    const processAfter = await controllerProcessMiB()
    return {
      reps: options.reps,
      services: options.services,
      tickToBackupStart: { median: median(delays), all: delays },
      labelToSchedule: { median: median(labelDelays), all: labelDelays },
      memoryMiB: { before: memoryBefore, after: memoryAfter },
      processMiB: { before: processBefore, after: processAfter },
    }
  } finally {
    await removeStack([], ['db-restored', ...extra])
    await rm(dir, { recursive: true, force: true })
  }
}

const program = new Command('bench-swarm')
  .description('measure the controller on the simulated 3-node Swarm')
  .option('--reps <n>', 'repetitions; figures are medians', (v) => Number(v), 5)
  .option('--services <n>', 'labelled services added for the memory figure', (v) => Number(v), 50)
  .option('--json', 'print the figures as JSON')
  .action(async (options: Options) => {
    const result = await runSwarmBenchmark({ ...options, json: Boolean(options.json) })
    const f = (n: number) => n.toFixed(2)
    process.stdout.write(
      options.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : [
            `restic-docker-swarm controller on a 3-node Swarm, median of ${result.reps}`,
            `1. schedule tick to the backup starting on another node: ${f(result.tickToBackupStart.median)} s (${result.tickToBackupStart.all.map(f).join(', ')})`,
            `2. label change to the new schedule: ${f(result.labelToSchedule.median)} s (${result.labelToSchedule.all.map(f).join(', ')})`,
            `3. controller memory: ${f(result.memoryMiB.before)} MiB with 2 labelled services, ${f(result.memoryMiB.after)} MiB with ${result.services + 2} (its container's cgroup)`,
            `   its node process: ${f(result.processMiB.before)} MiB with 2, ${f(result.processMiB.after)} MiB with ${result.services + 2} (resident)`,
            '',
          ].join('\n'),
    )
  })

await program.parseAsync()
