// The controller in this process, against the machine's real single-node Swarm: discovery, live
// label changes, a run as a Swarm job (which fails at once here: the jobs get no server), the
// clean-up of a crashed controller's job services, and the survey of the nodes' volumes. The
// whole pipeline, with a server and three nodes, is test/3-node/swarm.ts.
import { mkdtemp, rm, statfs, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { CACHE_VOLUME } from '../../lib/swarm/job-service.js'
import { restoreScaledServices } from '../../lib/swarm/scale.js'
import { JobLedger } from '../../lib/swarm/job-ledger.js'
import { surveyNodes } from '../../lib/swarm/volume-survey.js'
import { Controller, type ControllerOptions, type ScheduledJob } from '../../lib/swarm/controller.js'
import { jobRows } from '../../lib/swarm/controller-options.js'
import { Reporter } from '../../lib/observe/reporter.js'
import { EXIT, RunError } from '../../lib/errors.js'
import { readStatus } from '../../lib/observe/status-file.js'
import { runRestic, type Restic } from '../../lib/restic/command.js'
import { snapshotsOfHosts } from '../../lib/restic/snapshots.js'
import { urlRepository } from '../../lib/restic/repository.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import { useHostEngine } from '../fixtures/docker.js'
import { captureLogger } from '../fixtures/log.js'
import { ROOT } from '../fixtures/root.js'

const APP = 'rds-ctl-app'
const BAD = 'rds-ctl-bad'
const LEFTOVER = 'rds-ctl-leftover'
const SECOND = 'rds-ctl-second'
const GLOBAL = 'rds-ctl-global'
const STARTING = 'rds-ctl-starting'
const QUEUED = ['rds-ctl-queued-a', 'rds-ctl-queued-b', 'rds-ctl-queued-c']
const VOLUME = 'rds-ctl-data'
const IMAGE = 'restic-docker-swarm-agent:latest'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const docker = (args: string[]) => execa('docker', args, { reject: false })

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, seconds = 60): Promise<T> {
  for (let i = 0; i < seconds * 10; i++) {
    const value = await check()
    if (value) return value
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('against a real Swarm', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const client = new Docker()
  const removeAll = async () => {
    await docker(['service', 'rm', APP, BAD, LEFTOVER, SECOND, GLOBAL, STARTING, ...QUEUED])
    // Docker 20.10 (this machine's) keeps a removed job service's exited container; 26 does not.
    const exited = (await docker(['ps', '-aq', '--filter', 'label=rds.job', '--filter', 'status=exited'])).stdout.split('\n').filter(Boolean)
    if (exited.length > 0) await docker(['rm', ...exited])
    await until('the test services to be gone', async () => (await docker(['ps', '-aq', '--filter', `volume=${VOLUME}`])).stdout === '' || undefined)
    await docker(['volume', 'rm', VOLUME, CACHE_VOLUME])
  }
  t.before(async () => {
    await execa('images/build', [], { cwd: ROOT })
    await removeAll()
    await docker(['volume', 'create', VOLUME])
    await execa('docker', ['run', '--rm', '-v', `${VOLUME}:/data`, 'debian:trixie-slim', 'sh', '-c', 'echo data > /data/file'])
  })
  t.teardown(removeAll)

  const { log, text } = captureLogger()
  const stop = new AbortController()
  const retained: SwarmJob[] = []
  let rows: ScheduledJob[] = []
  const statusFile = join(tmpdir(), `rds-ctl-status-${process.pid}`, 'status.json')
  // What the repository holds: no server runs here, so one snapshot of the job stands in for it.
  const inRepository = { id: 'a'.repeat(64), short_id: 'aaaaaaaa', time: '2026-01-01T03:00:00Z', hostname: APP, paths: ['/volumes'], summary: { total_files_processed: 7, total_bytes_processed: 70 } }
  const options: ControllerOptions = {
    docker: client,
    template: { image: IMAGE, networks: [], secrets: [] },
    ledger: await JobLedger.of(client, join(tmpdir(), `rds-ctl-locks-${process.pid}`, 'ended-jobs')),
    defaults: { retention: { prune: false }, repoPath: 'unused', maxRunTime: 86_400_000 },
    // No server: each job's rds backup stops at once, saying SSH_HOST is not set.
    jobEnv: [],
    applyRetention: async (_repoPath, jobs) => {
      retained.push(...jobs)
      return new Map()
    },
    log,
    lockDir: join(tmpdir(), `rds-ctl-locks-${process.pid}`),
    stop: stop.signal,
    onChange: (jobs) => (rows = jobs),
    reporter: new Reporter({ statusFile, log }),
    snapshotsOf: async (job) => ({ snapshots: job.name === APP ? [inRepository] : [], repository: 'the repository' }),
  }
  // A real repository on this machine's disk: where the per-node jobs whose task is gone are found.
  const local = join(tmpdir(), `rds-ctl-repository-${process.pid}`)
  const localRestic: Restic = { binary: 'restic', repository: urlRepository(local, join(tmpdir(), `rds-ctl-password-${process.pid}`)) }
  options.snapshotsOfHosts = async (_repoPath, hosts, signal) => ({ snapshots: await snapshotsOfHosts({ ...localRestic, signal }, hosts, log), repository: local })
  const controller = new Controller(options)
  /** Waits for a line of the controller's log; on a timeout the log is shown. */
  const logShows = (what: string, pattern: RegExp, seconds = 20) =>
    until(what, () => pattern.test(text()) || undefined, seconds).catch((error) => {
      t.comment(text())
      throw error
    })
  let running: Promise<void> | undefined
  // Whatever fails, the controller stops, and with it the event stream that keeps this process up.
  t.teardown(async () => {
    stop.abort()
    await running
  })

  t.test('at start it removes the job services a crashed controller left, then schedules the labelled services', async (t) => {
    await execa('docker', ['service', 'create', '--detach', '--name', LEFTOVER, '--label', 'rds.job=app', '--replicas', '0', 'debian:trixie-slim', 'true'])
    await execa('docker', [
      'service', 'create', '--detach', '--name', APP, '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *',
      '--mount', `type=volume,src=${VOLUME},dst=/data`, '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    await until('the service to run', async () => (await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${APP}`])).stdout !== '' || undefined)
    running = controller.run()
    await logShows('the job to be scheduled', /controller: rds-ctl-app: scheduled "0 0 1 1 \*" on .*, next run at 2027-01-01/)
    // Swarm may say the task runs a moment after its container does: the controller looks again.
    const node = await until('the job to have its node', () => controller.jobs.get(APP)?.job.node?.nodeName)
    t.equal(node, (await execa('docker', ['info', '--format', '{{.Name}}'])).stdout.trim())
    t.match(text(), /removing job service rds-ctl-leftover, left by a controller that stopped mid-run/)
    t.equal((await docker(['service', 'inspect', LEFTOVER])).exitCode, 1, 'the left-over job service is gone')
    t.match(rows.map((row) => row.job.name), [APP])
    const status = await until('the last snapshot, from the repository', async () => (await readStatus(statusFile)).jobs[APP]?.lastSuccess && (await readStatus(statusFile)))
    t.match(status.jobs[APP], {
      schedule: '0 0 1 1 *',
      lastSuccess: { finishedAt: '2026-01-01T03:00:00Z', message: 'snapshot aaaaaaaa, found in the repository' },
      lastSnapshot: { id: inRepository.id, files: 7, repository: 'the repository' },
      snapshots: 1,
    })
    t.ok(status.jobs[APP]!.overdueAfterSeconds! >= 2 * 365 * 86400, 'a yearly schedule is overdue after two years')
    t.ok(status.heartbeatAt, 'the controller keeps a heartbeat')
  })

  t.test('a label changed on the service changes the schedule at once, from the event', async (t) => {
    await execa('docker', ['service', 'update', '--detach', '--label-add', 'rds.backup.run-at=0 0 2 1 *', APP])
    await logShows('the new schedule', /rds-ctl-app: schedule "0 0 1 1 \*" -> "0 0 2 1 \*"/, 10)
    t.equal(controller.jobs.get(APP)?.cron?.nextRun()?.toISOString().slice(0, 10), '2027-01-02')
  })

  t.test('a global service that runs nowhere yet is listed with no node; once its tasks start (no event says so) each node is a job of its own', async (t) => {
    const nodeName = (await execa('docker', ['info', '--format', '{{.Name}}'])).stdout.trim()
    // Its constraint matches no node: its task waits, pending.
    await execa('docker', [
      'service', 'create', '--detach', '--name', STARTING, '--mode', 'global', '--constraint', 'node.labels.rds-ctl-none==1', '--mount', `type=volume,src=${VOLUME},dst=/data`, '--label', 'rds.backup=true',
      '--label', 'rds.backup.run-at=0 0 1 1 *', '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    await logShows('the service listed', /controller: rds-ctl-starting: scheduled "0 0 1 1 \*" on no node yet \(no running task\)/, 10)
    t.match(await controller.runNow(STARTING), { ok: false, message: /has no running task/ }, 'its runs fail with a sentence')
    // The update's event comes before its task runs: the controller looks again until it does.
    await execa('docker', ['service', 'update', '--detach', '--constraint-rm', 'node.labels.rds-ctl-none==1', STARTING])
    await logShows('its job on this node', new RegExp(`controller: rds-ctl-starting@${nodeName}: scheduled "0 0 1 1 \\*" on ${nodeName}`), 30)
    t.match(text(), new RegExp(`controller: rds-ctl-starting: runs now as rds-ctl-starting@${nodeName}`))
    t.notOk(controller.jobs.has(STARTING), 'the service-wide row is gone')
    await execa('docker', ['service', 'rm', STARTING])
    await until('its job to end with its service', () => !controller.jobs.has(`${STARTING}@${nodeName}`) || undefined, 10)
  })

  t.test('a bad label is one line in the log and a job with an error; the other job is untouched', async (t) => {
    await execa('docker', ['service', 'create', '--detach', '--name', BAD, '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 3 * * *', '--label', 'rds.backup.volumes=nope', '--replicas', '0', 'debian:trixie-slim', 'true'])
    await until('the bad label', () => controller.jobs.get(BAD)?.job.error)
    t.equal(controller.jobs.get(BAD)?.job.error, 'service rds-ctl-bad: label rds.backup.volumes names "nope", which the service does not mount (it mounts no named volume); a service can only back up its own volumes.')
    t.match(text(), /ERROR controller: service rds-ctl-bad: label rds.backup.volumes names "nope"/)
    t.ok(controller.jobs.get(APP)?.cron, 'the good job keeps its schedule')
    const last = await controller.runNow(BAD)
    t.match(last, { ok: false, exitCode: 2, message: /^service rds-ctl-bad: label/ }, 'a run of a job with a bad label fails without starting anything, exit code 2 (what rds backup --service exits with)')
    t.match((await readStatus(statusFile)).jobs[BAD], { error: /label rds.backup.volumes names "nope"/, lastAttempt: { ok: false, exitCode: 2 } })
  })

  /** The volumes the job containers created from `since` to now mounted, by the engine's events (other files' containers may come and go meanwhile). */
  const jobMounts = async (since: string) => {
    const until = new Date().toISOString()
    const events = async (filters: string[]) =>
      (await docker(['events', '--since', since, '--until', until, ...filters.flatMap((filter) => ['--filter', filter]), '--format', '{{json .}}'])).stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { Actor: { ID: string; Attributes: Record<string, string> } })
    const jobs = new Set((await events(['type=container', 'event=create', 'label=rds.job'])).map((event) => event.Actor.ID))
    return (await events(['type=volume', 'event=mount'])).filter((event) => jobs.has(event.Actor.Attributes.container ?? '')).map((event) => event.Actor.ID)
  }

  t.test('a run is a Swarm job on the node of the task: its log is relayed, its failure recorded, the job service removed, and no retention', async (t) => {
    const started = new Date().toISOString()
    const last = await controller.runNow(APP)
    t.match(last, { ok: false, exitCode: 2, message: /^the backup failed with exit code 2 after [\d.]+ s; its log is above\.$/ }, "the job's own exit code is the run's")
    t.match(text(), /rds-ctl-app: rds: SSH_HOST is not set; set it to the SFTP server/)
    t.same(retained, [], 'retention runs only after a backup that succeeded')
    t.match((await readStatus(statusFile)).jobs[APP], {
      lastAttempt: { ok: false, exitCode: 2, message: /^the backup failed with exit code 2/ },
      lastSuccess: { finishedAt: '2026-01-01T03:00:00Z' },
      failuresInARow: 1,
    }, 'the failure is recorded, and the last success kept')
    t.notOk((await readStatus(statusFile)).jobs[APP]?.running, 'no run is recorded as going')
    t.equal((await docker(['service', 'ls', '-q', '--filter', 'label=rds.job'])).stdout, '', 'no job service is left')
    // An anonymous volume would be left for the image's VOLUME of restic's cache, were the job not to mount one there.
    const mounted = await jobMounts(started)
    t.ok(mounted.includes(CACHE_VOLUME), `restic's cache is the volume ${CACHE_VOLUME}`)
    t.same(mounted.filter((name) => /^[0-9a-f]{64}$/.test(name)), [], 'the job mounted no anonymous volume')
    t.equal((await docker(['volume', 'inspect', CACHE_VOLUME])).exitCode, 0)
  })

  t.test('a repository that vanished (beforeRun says so, exit 10) fails the run with its sentence and starts no job', async (t) => {
    const gone = 'the repository unused on the server is gone, although snapshot aaaaaaaa of rds-ctl-app was saved there at 2026-01-01T03:00:00Z; refusing to start a new, empty one.'
    options.beforeRun = async () => {
      throw new RunError(gone, EXIT.noRepository)
    }
    t.teardown(() => void (options.beforeRun = undefined))
    const jobsBefore = (text().match(/rds-ctl-app: starting on/g) ?? []).length
    const last = await controller.runNow(APP)
    t.match(last, { ok: false, exitCode: 10, message: gone })
    t.match((await readStatus(statusFile)).jobs[APP], { lastAttempt: { ok: false, exitCode: 10, message: gone } })
    t.equal((text().match(/rds-ctl-app: starting on/g) ?? []).length, jobsBefore, 'no job was started')
  })

  t.test('a run whose discovery fails (the Docker API unreachable) fails, and starts nothing on a node that may be stale', async (t) => {
    options.docker = new Docker({ socketPath: join(tmpdir(), `rds-ctl-no-docker-${process.pid}.sock`) })
    t.teardown(() => void (options.docker = client))
    const jobsBefore = (text().match(/rds-ctl-app: starting on/g) ?? []).length
    const last = await controller.runNow(APP)
    t.match(last, { ok: false, message: /^could not read where service rds-ctl-app runs now \(.*ENOENT.*\); the run is skipped rather than started on a node that may no longer hold its data\.$/ })
    t.equal((text().match(/rds-ctl-app: starting on/g) ?? []).length, jobsBefore, 'no job was started')
  })

  t.test('rds.backup.stop=scale: scaled to 0 for the run, and back to its replica count after it, also a failed one; the downtime is recorded', async (t) => {
    const spec = async () => JSON.parse((await docker(['service', 'inspect', APP])).stdout)[0].Spec as { Labels: Record<string, string>; Mode: { Replicated: { Replicas: number } } }
    const running = async () => (await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${APP}`, '--filter', 'status=running'])).stdout.split('\n').filter(Boolean).length
    const node = (await execa('docker', ['info', '--format', '{{.Name}}'])).stdout.trim()
    await execa('docker', ['service', 'update', '--detach', '--label-add', 'rds.backup.stop=scale', '--constraint-add', `node.hostname == ${node}`, '--replicas', '2', APP])
    await until('two replicas, and the label read', async () => (await running()) === 2 && controller.jobs.get(APP)?.job.backup?.stop === 'scale' && controller.jobs.get(APP)?.job.node)
    const seen: { replicas: number; recorded?: string; containers: number }[] = []
    let done = false
    const watching = (async () => {
      while (!done) {
        const now = await spec()
        seen.push({ replicas: now.Mode.Replicated.Replicas, recorded: now.Labels['rds.scaled-from'], containers: await running() })
        await sleep(100)
      }
    })()
    const last = await controller.runNow(APP).finally(() => (done = true))
    await watching
    t.match(last, { ok: false, message: /^the backup failed with exit code 2/ }, 'the backup failed (no server here)')
    t.ok(seen.some((state) => state.replicas === 0 && state.recorded === '2' && state.containers === 0), 'during the run: 0 replicas, no container, and the count recorded on the service')
    const after = await spec()
    t.equal(after.Mode.Replicated.Replicas, 2, 'back to 2 replicas')
    t.equal(after.Labels['rds.scaled-from'], undefined, 'the record removed')
    t.equal(await running(), 2, 'both running again before the run ended')
    t.match(text(), /stop: scaling rds-ctl-app from 2 replica\(s\) to 0 for the backup[\s\S]*stop: rds-ctl-app has no running container[\s\S]*stop: scaling rds-ctl-app back to 2 replica\(s\)[\s\S]*controller: rds-ctl-app: rds-ctl-app was scaled to 0 for [\d.]+ s \(downtime\)/)
    t.ok((await readStatus(statusFile)).jobs[APP]?.lastDowntimeSeconds! > 0, 'the downtime is in STATUS_FILE')

    // Stopped (SIGTERM) while the service is at 0: the job is removed, and the service scaled back all the same.
    const stopping = new AbortController()
    // Without schedules: its crons would keep this process alive (run() stops them, and it never runs).
    // The same LOCK_DIR, as an rds backup --service in the controller's container has: the running
    // controller sees the run's lock, and leaves the scaled-down service to it.
    const second = new Controller({ ...options, stop: stopping.signal, schedule: false, onChange: undefined })
    await second.sync('a second controller')
    const stopped = second.runNow(APP)
    const scalingNow = (text().match(/stop: scaling rds-ctl-app from 2/g) ?? []).length + 1
    await until('the service being scaled down', () => (text().match(/stop: scaling rds-ctl-app from 2/g) ?? []).length === scalingNow || undefined)
    // As run() does on SIGTERM: the running job's own stop.
    stopping.abort()
    second.jobs.get(APP)!.stopRun!.abort()
    t.match(await stopped, { ok: false, message: 'the job did not finish: stopped' })
    t.equal((await spec()).Mode.Replicated.Replicas, 2, 'scaled back after the stop')
    t.equal(await running(), 2)

    // A scale-back that failed (or a run that died) left the service at 0 with its count recorded:
    // the running controller's next discovery, which the update's own event starts, scales it back.
    await execa('docker', ['service', 'update', '--detach', '--label-add', 'rds.scaled-from=2', '--replicas', '0', APP])
    await logShows('the controller to mend it', /controller: rds-ctl-app is still scaled to 0 by a backup that has ended; scaling it back/, 30)
    await until('the service back at 2 replicas, its record gone', async () => {
      const now = await spec()
      return (now.Mode.Replicated.Replicas === 2 && now.Labels['rds.scaled-from'] === undefined) || undefined
    }, 60)
    // At start, before any discovery, restoreScaledServices does the same (a controller killed mid-run).
    await restoreScaledServices(client, log)
    await execa('docker', ['service', 'update', '--detach', '--label-rm', 'rds.backup.stop', '--replicas', '1', APP])
  })

  t.test('services that ask for prune share one prune of their repository on PRUNE_AT, never one each', async (t) => {
    const pruned: string[] = []
    options.pruneAt = '* * * * * *'
    options.pruneRepository = async (repoPath) => void pruned.push(repoPath)
    t.teardown(async () => {
      options.pruneAt = undefined
      options.pruneRepository = undefined
      await docker(['service', 'rm', SECOND])
      await docker(['service', 'update', '--detach', '--label-rm', 'rds.backup.prune', '--label-rm', 'rds.backup.keep-last', APP])
    })
    const asksForPrune = ['--label-add', 'rds.backup.prune=true', '--label-add', 'rds.backup.keep-last=3']
    await execa('docker', ['service', 'update', '--detach', ...asksForPrune, APP])
    await execa('docker', [
      'service', 'create', '--detach', '--name', SECOND, '--replicas', '0', '--mount', `type=volume,src=${VOLUME},dst=/data`,
      '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', 'rds.backup.prune=true', '--label', 'rds.backup.keep-last=3', 'debian:trixie-slim', 'true',
    ])
    await until('both services to ask for prune', () => [APP, SECOND].every((name) => controller.jobs.get(name)?.job.backup?.retention.prune) || undefined, 30)
    await until('two prunes', () => pruned.length >= 2 || undefined, 30)
    t.ok(pruned.every((repoPath) => repoPath === 'unused'), 'of the one repository')
    t.equal((text().match(/controller: repository unused: pruned "/g) ?? []).length, 1, 'one schedule for the two services')
    t.match((await readStatus(statusFile)).repositories?.unused, { lastPrune: { ok: true, message: 'pruned repository unused' } })
  })

  t.test('a per-node job whose task is gone is found again in its repository, with no status of it (a controller on another manager)', async (t) => {
    const nodeName = (await execa('docker', ['info', '--format', '{{.Name}}'])).stdout.trim()
    const nodeId = (await execa('docker', ['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim()
    const job = `${GLOBAL}@${nodeName}`
    await writeFile(localRestic.repository.passwordFile!, 'test password')
    await runRestic(localRestic, ['init'], { log })
    const data = await mkdtemp(join(tmpdir(), 'rds-ctl-data-'))
    await writeFile(join(data, 'file'), 'data')
    await runRestic(localRestic, ['backup', '--host', job, data], { log })
    const [saved] = await snapshotsOfHosts(localRestic, [job], log)
    t.teardown(() => Promise.all([rm(local, { recursive: true, force: true }), rm(localRestic.repository.passwordFile!, { force: true })]))
    t.notOk((await readStatus(statusFile)).jobs[job], 'the status file knows nothing of the job')
    // A global service that runs on no node (its constraint matches none): its task is gone from this node.
    await execa('docker', [
      'service', 'create', '--detach', '--name', GLOBAL, '--mode', 'global', '--constraint', 'node.labels.rds-ctl-none==1', '--mount', `type=volume,src=${VOLUME},dst=/data`,
      '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', 'debian:trixie-slim', 'true',
    ])
    await logShows('the job found in the repository', new RegExp(`controller: ${job}: its task is gone, but its snapshots are in the repository`))
    const kept = await until('the job to be kept', () => controller.jobs.get(job)?.job)
    t.match(kept, { perNode: true, node: { nodeId, nodeName }, unavailable: new RegExp(`^service ${GLOBAL} has no running task on node ${nodeName}`) })
    const status = await until('its status', async () => (await readStatus(statusFile)).jobs[job]?.keptNode && (await readStatus(statusFile)).jobs[job])
    t.match(status, { keptNode: { service: GLOBAL, nodeId }, lastSnapshot: { id: saved!.id, repository: local }, lastSuccess: { message: /found in the repository/ } })
    t.match(await controller.runNow(job), { ok: false, message: /has no running task on node/ }, 'its runs fail with a sentence')
    // Found again at every discovery, now from the status file: the service's next change keeps it.
    await execa('docker', ['service', 'update', '--detach', '--label-add', 'rds.backup.run-at=0 0 2 1 *', GLOBAL])
    await logShows('the changed schedule', new RegExp(`${job}: schedule "0 0 1 1 \\*" -> "0 0 2 1 \\*"`), 10)
    await docker(['service', 'rm', GLOBAL])
    await until('the job to end with its service', () => !controller.jobs.has(job) || undefined, 10)
  })

  t.test("the survey lists this node's volumes and the services that mount them", async (t) => {
    const started = new Date().toISOString()
    const { surveys: [survey, ...others], unsurveyed } = await surveyNodes(client, { image: IMAGE, networks: [], secrets: [] }, log)
    t.same(unsurveyed, [], 'every node answered')
    t.equal(survey?.nodeId, (await execa('docker', ['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim(), 'the node by its ID')
    t.same(await jobMounts(started), [], 'the survey mounts no volume, so leaves no anonymous one')
    // The room where the engine keeps its volumes, as this machine sees it (give or take what was written meanwhile).
    const room = await statfs((await execa('docker', ['info', '--format', '{{.DockerRootDir}}'])).stdout.trim())
    const free = room.bavail * room.bsize
    t.ok(Math.abs((survey?.free ?? 0) - free) < free * 0.05, `the node's free space: ${survey?.free} bytes, ${free} here`)
    t.same(others, [], 'one node')
    t.equal(survey?.node, (await execa('docker', ['info', '--format', '{{.Name}}'])).stdout.trim())
    t.match(survey?.volumes.find((volume) => volume.name === VOLUME), { usedBy: [{ service: APP, running: true }] })
    t.equal((await docker(['service', 'ls', '-q', '--filter', 'label=rds.job'])).stdout, '', 'the survey job is removed')
  })

  t.test('MAX_JOBS_PER_NODE=1: three runs due at once on one node run one after another, the waiting ones QUEUED with the reason', async (t) => {
    for (const name of QUEUED) {
      await execa('docker', ['service', 'create', '--detach', '--name', name, '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--mount', `type=volume,src=${VOLUME},dst=/data`, '--init', 'debian:trixie-slim', 'sleep', 'infinity'])
    }
    const queuedSeen = new Set<string>()
    // Without schedules, as rds backup --service runs them: the limits hold, BACKUP_WINDOW does not.
    const limited = new Controller({ ...options, schedule: false, limits: { perNode: 1 }, onChange: (jobs) => jobRows(jobs).forEach((row) => row.queued && queuedSeen.add(`${row.name}: ${row.queued}`)) })
    await until('the three services to run, each a job with its node', async () => (await limited.sync('the queue test'), QUEUED.every((name) => limited.jobs.get(name)?.job.node)) || undefined)
    const since = new Date().toISOString()
    const outcomes = await Promise.all(QUEUED.map((name) => limited.runNow(name)))
    t.same(outcomes.map((last) => last?.message.replace(/ after [\d.]+ s/, '')), QUEUED.map(() => 'the backup failed with exit code 2; its log is above.'), 'each ran (and failed: no server here)')
    // When each job's container ran, from the engine's own events: never two at once.
    const events = (await docker(['events', '--since', since, '--until', new Date().toISOString(), '--filter', 'type=container', '--filter', 'label=rds.job', '--filter', 'event=start', '--filter', 'event=die', '--format', '{{.Action}} {{.TimeNano}}'])).stdout.split('\n').filter(Boolean)
    t.equal(events.length, 6, events.join('; '))
    let inside = 0
    for (const event of events) {
      inside += event.startsWith('start') ? 1 : -1
      t.ok(inside <= 1, `at most one job container at a time (${event})`)
    }
    t.ok([...queuedSeen].some((row) => /^rds-ctl-queued-[abc]: queued since \d\d:\d\d:\d\d: node \S+ runs rds-ctl-queued-[abc] \(MAX_JOBS_PER_NODE=1\)$/.test(row)), [...queuedSeen].join('; '))
    t.match(text(), /controller: rds-ctl-queued-[abc]: queued since \d\d:\d\d:\d\d: node \S+ runs rds-ctl-queued-[abc] \(MAX_JOBS_PER_NODE=1\)/)
    await docker(['service', 'rm', ...QUEUED])
    // The running controller's drop of them is one log line, which the next test's must not join.
    await until('the running controller to drop them', () => QUEUED.every((name) => !controller.jobs.has(name)) || undefined, 20)
  })

  t.test('a removed service is dropped; stopping the controller ends it', async (t) => {
    await execa('docker', ['service', 'rm', APP])
    await logShows('the job to be dropped', /controller: rds-ctl-app: dropped \([^)]*service rds-ctl-app remove/, 10)
    t.notOk(controller.jobs.has(APP))
    // The status file is written after the log line: wait for it, never for a fixed time.
    t.ok(await until('its status to be dropped with it', async () => !(await readStatus(statusFile)).jobs[APP] || undefined, 10), 'its status is dropped with it')
    stop.abort()
    await running
    t.match(text(), /controller: stopped/)
  })
})
