// What npm run bench measures (bench/bench.ts): rds against bare restic, against a full tar
// archive over ssh, and against the time to read the data once. See docs/BENCHMARKS.md.
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { readConfig } from '../lib/config/environment.js'
import { createLogger } from '../lib/observe/log.js'
import { repositoryEnv, repositoryOptions, serverRepository } from '../lib/restic/repository.js'
import { prepareSshTransport } from '../lib/transport/ssh.js'
import { startSftpServer, type SftpServer } from '../test/fixtures/sftp-server.js'
import { changeDataset, generateDataset, generateManyFiles } from './dataset.js'
import { cpuSeconds, measure, median, treeRss, treeSize, type Measurement } from './measure.js'

// The rds that npm run bench has just built.
const RDS = fileURLToPath(new URL('../../dist/bin/rds.js', import.meta.url))

export interface Options {
  size: number
  reps: number
  idleSeconds: number
  json: boolean
  seed: number
  manyFiles: number
}

interface Run extends Measurement {
  written: number
  localDisk: number
}

async function tarOverSsh(data: string, sshArgs: string[], remoteFile: string): Promise<Measurement> {
  const started = process.hrtime.bigint()
  const tar = execa('tar', ['czf', '-', '-C', dirname(data), basename(data)], { buffer: false })
  const ssh = execa('ssh', [...sshArgs, `cat > ${remoteFile}`], { stdin: 'pipe', buffer: false })
  let peakRss = 0
  let running = true
  const sampling = (async () => {
    while (running) {
      peakRss = Math.max(peakRss, (await treeRss(tar.pid!)) + (await treeRss(ssh.pid!)))
      await sleep(20)
    }
  })()
  await pipeline(tar.stdout!, ssh.stdin!)
  await Promise.all([tar, ssh])
  running = false
  await sampling
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, peakRss }
}

async function readOnce(data: string): Promise<number> {
  const started = process.hrtime.bigint()
  // Through a pipe: GNU tar skips reading the files when its output is /dev/null itself.
  const tar = execa('tar', ['cf', '-', '-C', dirname(data), basename(data)], { buffer: false })
  await pipeline(tar.stdout!, new Writable({ write: (_chunk, _encoding, done) => done() }))
  await tar
  return Number(process.hrtime.bigint() - started) / 1e9
}

async function idleAgent(env: Record<string, string>, seconds: number): Promise<{ rssMedian: number; rssMax: number; cpuPercent: number }> {
  const agent = execa(process.execPath, [RDS, 'agent'], { env: { ...env, RUN_AT: '0 0 1 1 *' }, extendEnv: false, reject: false })
  await sleep(3000)
  const samples: number[] = []
  const cpuBefore = await cpuSeconds(agent.pid!)
  const started = Date.now()
  for (let i = 0; i < seconds; i++) {
    samples.push(await treeRss(agent.pid!))
    await sleep(1000)
  }
  const cpu = (await cpuSeconds(agent.pid!)) - cpuBefore
  const wall = (Date.now() - started) / 1000
  agent.kill('SIGTERM')
  await agent
  return { rssMedian: median(samples), rssMax: Math.max(...samples), cpuPercent: (100 * cpu) / wall }
}

export async function runBenchmark(options: Options) {
  const work = await mkdtemp(join(tmpdir(), 'rds-bench-'))
  const server: SftpServer = await startSftpServer()
  try {
    const data = join(work, 'data')
    const log = createLogger({ stream: process.stderr })
    const progress = (message: string) => options.json || process.stderr.write(`bench: ${message}\n`)
    const env = (repo: string, cache: string) => server.env(data, { REPO_PATH: repo, RESTIC_CACHE_DIR: cache, SNAPSHOT_HOST: 'bench' })
    // The same ssh config and repository arguments rds uses, for bare restic and for tar | ssh.
    const stateDir = join(work, 'state')
    await mkdir(stateDir, { mode: 0o700 })
    const config = readConfig(env('x', ''))
    const transport = await prepareSshTransport(config, stateDir, log)
    const repository = (repo: string) => serverRepository({ ...config, repoPath: repo }, transport)
    const restic = (repo: string, cache: string, args: string[]) =>
      measure('restic', [...repositoryOptions(repository(repo)), ...args], { env: { RESTIC_CACHE_DIR: cache, ...repositoryEnv(repository(repo)) } })
    const rdsBackup = (repo: string, cache: string) => measure(process.execPath, [RDS, 'backup'], { env: env(repo, cache), extendEnv: false })
    const backupArgs = ['backup', '--json', '--host', 'bench', '--', data]
    const resticVersion = (await execa('restic', ['version'])).stdout.split(' ')[1]

    progress(`generating ${options.size} MB of data (seed ${options.seed})`)
    let files = await generateDataset(data, options.size * 1e6, options.seed)
    const dataBytes = await treeSize(data)

    // 1. The agent's overhead: the same initial backup, into a repository that already exists, then
    // the same backup again with nothing changed, where the fixed cost is most of the time.
    const overhead = { restic: [] as Measurement[], rds: [] as Measurement[] }
    const unchanged = { restic: [] as Measurement[], rds: [] as Measurement[] }
    for (let rep = 0; rep < options.reps; rep++) {
      progress(`overhead: repetition ${rep + 1} of ${options.reps}`)
      // Alternate which goes first, so neither always meets a warmer page cache.
      for (const name of rep % 2 === 0 ? (['restic', 'rds'] as const) : (['rds', 'restic'] as const)) {
        const repo = `overhead-${name}-${rep}`
        const cache = join(work, `cache-${repo}`)
        await restic(repo, cache, ['init'])
        await rm(cache, { recursive: true, force: true })
        const backup = () => (name === 'rds' ? rdsBackup(repo, cache) : restic(repo, cache, backupArgs))
        overhead[name].push(await backup())
        unchanged[name].push(await backup())
      }
    }

    // 2. Initial and incremental: rds against tar czf | ssh cat, and 3. reading the data once.
    const runs = { rdsInitial: [] as Run[], rdsIncremental: [] as Run[], tarInitial: [] as Run[], tarIncremental: [] as Run[], floor: [] as number[] }
    const sshArgs = ['-F', transport.configFile, transport.alias]
    let changedFiles = 0
    for (let rep = 0; rep < options.reps; rep++) {
      progress(`initial and incremental: repetition ${rep + 1} of ${options.reps}`)
      if (rep > 0) {
        await rm(data, { recursive: true, force: true })
        files = await generateDataset(data, options.size * 1e6, options.seed)
      }
      runs.floor.push(await readOnce(data))
      const repo = `incremental-${rep}`
      const cache = join(work, `cache-${repo}`)
      const repoDir = join(server.home, repo)
      const rdsRun = async (): Promise<Run> => {
        const [writtenBefore, cacheBefore] = [await treeSize(repoDir), await treeSize(cache)]
        const measured = await rdsBackup(repo, cache)
        return { ...measured, written: (await treeSize(repoDir)) - writtenBefore, localDisk: (await treeSize(cache)) - cacheBefore }
      }
      const tarRun = async (name: string): Promise<Run> => {
        const archive = join(server.home, `${repo}-${name}.tar.gz`)
        const measured = await tarOverSsh(data, sshArgs, archive)
        return { ...measured, written: (await stat(archive)).size, localDisk: 0 }
      }
      runs.rdsInitial.push(await rdsRun())
      runs.tarInitial.push(await tarRun('initial'))
      changedFiles = (await changeDataset(data, files, options.seed + rep)).changed
      runs.rdsIncremental.push(await rdsRun())
      runs.tarIncremental.push(await tarRun('incremental'))
    }

    // 4. The agent at rest.
    progress(`idle agent: ${options.idleSeconds} s`)
    const idle = await idleAgent(env('idle', join(work, 'cache-idle')), options.idleSeconds)

    // 5. A verbose backup of many files: restic writes a line per file, which rds streams to its log.
    progress(`many files: generating ${options.manyFiles} files`)
    const manyData = join(work, 'many')
    await generateManyFiles(manyData, options.manyFiles)
    progress('many files: rds backup --verbose')
    const manyEnv = server.env(manyData, { REPO_PATH: 'many', RESTIC_CACHE_DIR: join(work, 'cache-many'), SNAPSHOT_HOST: 'bench' })
    const manyLog = join(work, 'many.log')
    const many = await measure(process.execPath, [RDS, 'backup', '--verbose'], { env: manyEnv, extendEnv: false, all: false, stdout: 'ignore', stderr: { file: manyLog } })
    const logBytes = (await stat(manyLog)).size
    await rm(manyData, { recursive: true, force: true })

    const m = (list: Measurement[]) => ({ seconds: median(list.map((x) => x.seconds)), peakRss: median(list.map((x) => x.peakRss)) })
    const r = (list: Run[]) => ({ ...m(list), written: median(list.map((x) => x.written)), localDisk: median(list.map((x) => x.localDisk)) })
    const floor = median(runs.floor)
    const result = {
      machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, restic: resticVersion },
      data: { bytes: dataBytes, files: files.length, changedFiles, seed: options.seed },
      repetitions: options.reps,
      overhead: { restic: m(overhead.restic), rds: m(overhead.rds) },
      unchanged: { restic: m(unchanged.restic), rds: m(unchanged.rds) },
      rdsInitial: r(runs.rdsInitial),
      rdsIncremental: r(runs.rdsIncremental),
      tarInitial: r(runs.tarInitial),
      tarIncremental: r(runs.tarIncremental),
      floorSeconds: floor,
      idle,
      manyFiles: { files: options.manyFiles, logBytes, ...many },
      raw: { overhead, unchanged, runs },
    }
    return result
  } finally {
    await server.stop()
    await rm(work, { recursive: true, force: true })
  }
}
