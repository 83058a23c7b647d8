// npm run bench:scale [-- --services N --data-mib N --discover N --reps N --json --controller-log FILE]: the controller at
// scale on the simulated 3-node Swarm (test/e2e/start-swarm). N labelled services with data, spread
// over the three nodes, all due at the same second with the default limits (MAX_JOBS_PER_NODE=1):
// how long the whole night takes against the busiest node's own backup time, and the controller's
// memory; then discovery with many more labelled services. See docs/BENCHMARKS.md.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import Docker from 'dockerode'
import { execa } from 'execa'
import { nodeEnv, NODES, sim, startSimulatedSwarm, waitFor } from '../test/fixtures/swarm.js'
import { controllerLog, deployStack, rds, removeStack, RARE, setSchedule, STACK } from '../test/fixtures/swarm-stack.js'
import { readSwarm } from '../lib/swarm/cluster.js'
import { discoverJobs } from '../lib/swarm/discover.js'
import { controllerMemoryMiB, controllerProcessMiB } from './controller-memory.js'
import { median } from './measure.js'

interface Options {
  services: number
  dataMib: number
  discover: number
  reps: number
  json: boolean
  /** Where to write the controller's log of the night, to see where its time went. */
  controllerLog?: string
}

interface Row {
  name: string
  node?: string
  running: boolean
  last?: { startedAt: string; backupStartedAt?: string; finishedAt: string; ok: boolean; message: string }
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`)
const rows = async () => JSON.parse((await rds(['jobs', '--json'])).stdout || '[]') as Row[]
const seconds = (from: Date | string | number, to: Date | string | number) => (new Date(to).getTime() - new Date(from).getTime()) / 1000

/** Runs `work` on each item, `width` at a time: the Swarm's API takes a few calls at once well. */
async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items]
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item)
  }))
}

/** A six-field cron expression (croner's seconds first) for one moment, in the controller's time zone (UTC). */
const at = (moment: Date) => `${moment.getUTCSeconds()} ${moment.getUTCMinutes()} ${moment.getUTCHours()} * * *`

/** The night: `services` services with data on the three nodes, due at one second; returns the figures. */
async function oneNight(names: string[], options: Options) {
  progress(`creating ${names.length} services with ${options.dataMib} MiB each, spread over the three nodes`)
  await inParallel(names, 6, (name) => {
    const node = NODES[names.indexOf(name) % NODES.length]!
    return sim('rds-sim1', [
      'service', 'create', '--detach', '--quiet', '--name', name, '--constraint', `node.hostname==${node}`, '--label', 'rds.backup=true', '--label', `rds.backup.run-at=${RARE}`,
      '--mount', `type=volume,src=${name},dst=/data`, '--init', 'debian:trixie-slim', 'sh', '-c', `[ -e /data/data.bin ] || head -c ${options.dataMib}M /dev/urandom > /data/data.bin; exec sleep infinity`,
    ])
  })
  await waitFor(`${names.length} services running and listed by rds jobs`, async () => {
    const listed = (await rows()).filter((row) => names.includes(row.name) && row.node)
    return listed.length === names.length || undefined
  }, 600)
  // Data written: each container wrote its file before it slept.
  await new Promise((resolve) => setTimeout(resolve, 5000))
  const due = new Date(Math.ceil((Date.now() + 45_000) / 1000) * 1000)
  progress(`every one due at ${due.toISOString()}`)
  await inParallel(names, 6, (name) => sim('rds-sim1', ['service', 'update', '--detach', '--quiet', '--label-add', `rds.backup.run-at=${at(due)}`, name]))
  if (Date.now() > due.getTime() - 5000) throw new Error('the schedules were set too late for the due time; run again on a less busy machine')
  // Each node's engine tells when each job container started and died, followed as it goes (an
  // engine keeps only its last 1000 events, and the controller's node makes many).
  const followers = NODES.map((node) =>
    execa('docker', ['events', '--filter', 'type=container', '--filter', 'label=rds.job', '--filter', 'event=start', '--filter', 'event=die', '--format', '{{.Action}} {{.TimeNano}}'], { env: nodeEnv(node), reject: false }),
  )
  const done = await waitFor('every run of the night to end', async () => {
    const ours = (await rows()).filter((row) => names.includes(row.name))
    const ended = ours.filter((row) => row.last && Date.parse(row.last.startedAt) >= due.getTime() && !row.running)
    return ended.length === names.length ? ended : undefined
  }, 3600)
  const failed = done.filter((row) => !row.last!.ok)
  if (failed.length > 0) throw new Error(`${failed.length} runs failed, e.g. ${failed[0]!.name}: ${failed[0]!.last!.message}`)
  // Each node's restic time alone (restic's own total_duration of each backup, from its job's log),
  // and its job containers' time, from its own engine's events: when each started and died.
  const log = await controllerLog()
  if (options.controllerLog) await writeFile(options.controllerLog, log)
  const perNode = await Promise.all(NODES.map(async (node) => {
    const jobs = done.filter((row) => row.node === node)
    const resticSeconds = jobs.reduce((sum, row) => sum + Number(new RegExp(`${row.name}: backup: snapshot [0-9a-f]{8} saved: .* in ([\\d.]+) s`).exec(log)?.[1] ?? NaN), 0)
    const follower = followers[NODES.indexOf(node)]!
    follower.kill()
    const events = String((await follower).stdout).split('\n').filter(Boolean)
    let inside = 0
    let most = 0
    let since = 0
    let containerSeconds = 0
    let idleSince: number | undefined
    // Between one job's end and the next one's start there: what the controller does in between.
    const gaps: number[] = []
    for (const [action, nano] of events.map((event) => event.split(' '))) {
      const time = Number(BigInt(nano!) / 1_000_000n)
      if (action === 'start' && inside++ === 0) {
        since = time
        if (idleSince !== undefined) gaps.push((time - idleSince) / 1000)
      }
      if (action === 'die' && --inside === 0) {
        containerSeconds += (time - since) / 1000
        idleSince = time
      }
      most = Math.max(most, inside)
    }
    return { node, jobs: jobs.length, resticSeconds, containerSeconds, gapSeconds: gaps.length > 0 ? median(gaps) : 0, mostAtOnce: most }
  }))
  const busiest = perNode.reduce((a, b) => (b.resticSeconds > a.resticSeconds ? b : a))
  const windowSeconds = seconds(due, Math.max(...done.map((row) => Date.parse(row.last!.finishedAt))))
  return { windowSeconds, busiest, perNode, ratio: windowSeconds / busiest.resticSeconds, memoryMiB: await controllerMemoryMiB(), processMiB: await controllerProcessMiB() }
}

/** Discovery as the controller does it (the services, then their labels), timed in this process against the manager. */
async function discovery(reps: number) {
  const docker = new Docker({ socketPath: '/run/rds-swarm/rds-sim1/docker.sock' })
  const defaults = { runAt: RARE, retention: { prune: false }, repoPath: 'swarm', maxRunTime: 86_400_000 }
  const times: number[] = []
  let jobs = 0
  for (let rep = 0; rep < reps; rep++) {
    const started = performance.now()
    const { services, nodes } = await readSwarm(docker)
    jobs = discoverJobs(services, defaults, nodes).length
    times.push((performance.now() - started) / 1000)
  }
  return { seconds: median(times), all: times, jobs }
}

async function runScaleBenchmark(options: Options) {
  const dir = await mkdtemp(join(tmpdir(), 'rds-bench-scale-'))
  const night = Array.from({ length: options.services }, (_, i) => `rds-test-many-${i + 1}`)
  const more = Array.from({ length: Math.max(0, options.discover - options.services - 2) }, (_, i) => `rds-test-listed-${i + 1}`)
  try {
    progress('starting the 3-node Swarm and deploying stack.yml')
    await startSimulatedSwarm()
    await removeStack([], [...night, ...more])
    await deployStack(dir)
    for (const service of [`${STACK}_db`, `${STACK}_web`]) await setSchedule(service, RARE)
    const measured = await oneNight(night, options)
    progress(`the night took ${measured.windowSeconds.toFixed(1)} s; the busiest node's restic ${measured.busiest.resticSeconds.toFixed(1)} s`)

    progress(`creating ${more.length} more labelled services (no replica) for discovery`)
    await inParallel(more, 8, (name) =>
      sim('rds-sim1', ['service', 'create', '--detach', '--quiet', '--name', name, '--replicas', '0', '--label', 'rds.backup=true', '--label', `rds.backup.run-at=${RARE}`, '--mount', `type=volume,src=${name},dst=/data`, 'debian:trixie-slim', 'sleep', 'infinity']),
    )
    const total = options.services + more.length + 2
    await waitFor(`${total} jobs in rds jobs`, async () => (await rows()).length >= total || undefined, 600)
    return { ...options, night: measured, discovery: { services: total, ...(await discovery(options.reps)), memoryMiB: await controllerMemoryMiB(), processMiB: await controllerProcessMiB() } }
  } finally {
    await removeStack([], [...night, ...more])
    await rm(dir, { recursive: true, force: true })
  }
}

const program = new Command('bench-scale')
  .description('measure the controller at scale on the simulated 3-node Swarm')
  .option('--services <n>', 'labelled services with data, due at one second', (v) => Number(v), 50)
  .option('--data-mib <n>', 'MiB of data in each one', (v) => Number(v), 20)
  .option('--discover <n>', 'labelled services in all for the discovery figures', (v) => Number(v), 500)
  .option('--reps <n>', 'repetitions of the discovery; its figure is the median', (v) => Number(v), 5)
  .option('--json', 'print the figures as JSON')
  .option('--controller-log <file>', "write the controller's log of the night into this file")
  .action(async (options: Options) => {
    const result = await runScaleBenchmark({ ...options, json: Boolean(options.json) })
    const f = (n: number) => n.toFixed(2)
    const { night, discovery: found } = result
    process.stdout.write(
      options.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : [
            `restic-docker-swarm controller at scale on a 3-node Swarm: ${result.services} services of ${result.dataMib} MiB due at one second, MAX_JOBS_PER_NODE=1`,
            `1. the whole night: ${f(night.windowSeconds)} s; the busiest node's restic time alone: ${f(night.busiest.resticSeconds)} s (${night.busiest.node}, ${night.busiest.jobs} jobs): ${f(night.ratio)} times`,
            `   per node: ${night.perNode.map((node) => `${node.node}: ${node.jobs} jobs, restic ${f(node.resticSeconds)} s, job containers ${f(node.containerSeconds)} s, ${f(node.gapSeconds)} s between two (median), at most ${node.mostAtOnce} at once`).join('; ')}`,
            `2. controller memory after the night: ${f(night.memoryMiB)} MiB (its container's cgroup), its node process ${f(night.processMiB)} MiB (resident)`,
            `3. discovery of ${found.services} labelled services: ${f(found.seconds)} s (${found.all.map(f).join(', ')}), ${found.jobs} jobs`,
            `   controller memory with them: ${f(found.memoryMiB)} MiB (cgroup), its node process ${f(found.processMiB)} MiB (resident)`,
            '',
          ].join('\n'),
    )
  })

await program.parseAsync()
