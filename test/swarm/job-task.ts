// A job's task followed until its run is decided, on the machine's real Swarm, through a proxy of
// the Docker API that refuses some of its calls, as a manager does in a leader election.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { JobLedger } from '../../lib/swarm/job-ledger.js'
import { runJobService } from '../../lib/swarm/job-service.js'
import { useHostEngine } from '../fixtures/docker.js'
import { captureLogger } from '../fixtures/log.js'
import { refusingProxy } from '../fixtures/docker-proxy.js'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const TEMPLATE = { image: 'debian:trixie-slim', networks: [], secrets: [] }

t.test('against a real Swarm', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-job-task-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const proxy = await refusingProxy(t, dir)
  const docker = new Docker({ socketPath: proxy.socketPath })
  const ledger = await JobLedger.of(docker, join(dir, 'ended-jobs'))
  const nodeId = (await execa('docker', ['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim()
  const containersGoneByName = async () => {
    for (let i = 0; i < 300 && (await execa('docker', ['ps', '-aq', '--filter', `name=${ledger.prefix}`])).stdout !== ''; i++) await sleep(100)
  }
  // Whatever a failed assertion below leaves behind.
  t.teardown(async () => {
    const left = (await execa('docker', ['ps', '-aq', '--filter', `name=${ledger.prefix}`])).stdout.split('\n').filter(Boolean)
    // Swarm may be removing one already ("removal ... is already in progress"): then wait for it.
    if (left.length > 0) await execa('docker', ['rm', '--force', ...left], { reject: false })
    await containersGoneByName()
  })
  const jobServices = async () => (await execa('docker', ['service', 'ls', '-q', '--filter', `name=${ledger.prefix}`])).stdout
  /** Resolves once no container of the job is left on this engine, running or ended; false after 30 s. */
  const containersGone = async (job: string) => {
    for (let i = 0; i < 300; i++) {
      if ((await execa('docker', ['ps', '-aq', '--filter', `label=rds.job=${job}`])).stdout === '') return true
      await sleep(100)
    }
    return false
  }

  t.test('refused task listings while the job runs are tried again, and the job ends as it really did', async (t) => {
    const { log, text } = captureLogger()
    const running = runJobService(docker, TEMPLATE, ledger, { name: 'api-hiccup', nodeId, volumes: [], env: [], command: ['sh', '-c', 'sleep 4; exit 0'], maxRunMs: 600_000, docker: false }, log)
    // Three refusals in a row: the run waits 1, 2 and 4 s between its tries.
    proxy.refuse(3, { method: 'GET', path: /^\/tasks/ }, 503, 'rpc error: code = Unknown desc = The swarm does not have a leader')
    const outcome = await running
    t.equal(proxy.refused(), 3, 'the API refused three calls')
    t.match(outcome, { exitCode: 0 }, text())
    t.match(text(), /WARN\s+api-hiccup: could not read the job's task \(.*The swarm does not have a leader.*\); trying again in 1 s/)
    t.match(text(), /trying again in 4 s/)
    t.equal(await jobServices(), '', 'the job service was removed once the run was decided')
  })

  t.test('a task listing the API never answers is given up after a while and tried again, and the job ends as it really did', async (t) => {
    const { log, text } = captureLogger()
    const running = runJobService(docker, TEMPLATE, ledger, { name: 'api-hung', nodeId, volumes: [], env: [], command: ['sh', '-c', 'sleep 2; exit 0'], maxRunMs: 600_000, docker: false }, log)
    proxy.refuse(1, { method: 'GET', path: /^\/tasks/ }, 0, '')
    const outcome = await running
    t.equal(proxy.refused(), 4, 'one call was left unanswered')
    t.match(outcome, { exitCode: 0 }, text())
    t.match(text(), /WARN\s+api-hung: could not read the job's task \(no answer within 10 s\); trying again in 1 s/)
  })

  t.test('a job that runs past its maximum run time is stopped and its run given up, with the reason', async (t) => {
    const { log } = captureLogger()
    // It ends at SIGTERM, as restic does: within the grace Swarm gives it.
    const command = ['sh', '-c', 'trap "exit 0" TERM; sleep 300 & wait']
    const outcome = await runJobService(docker, TEMPLATE, ledger, { name: 'too-long', nodeId, volumes: [], env: [], command, maxRunMs: 2000, docker: false }, log)
    t.match(outcome, { reason: 'it ran for longer than 2 s (MAX_RUN_TIME, or the label rds.backup.max-run-time) and was stopped', exitCode: undefined })
    t.equal(await jobServices(), '', 'its job service was removed')
    t.ok(await containersGone('too-long'), 'and its container was stopped and removed: a job given up does not go on running')
  })

  t.test('a job gets the Docker socket only when it needs it', async (t) => {
    const { log } = captureLogger()
    const socketCheck = ['sh', '-c', 'if [ -S /var/run/docker.sock ]; then exit 7; else exit 0; fi']
    t.match(await runJobService(docker, TEMPLATE, ledger, { name: 'no-socket', nodeId, volumes: [], env: [], command: socketCheck, maxRunMs: 600_000, docker: false }, log), { exitCode: 0 }, 'a backup with no hook, dump or pause has no socket')
    t.match(await runJobService(docker, TEMPLATE, ledger, { name: 'socket', nodeId, volumes: [], env: [], command: socketCheck, maxRunMs: 600_000, docker: true }, log), { exitCode: 7 }, 'one that execs into a container has it')
  })

  t.test("a job's log reaches the controller's log while the job runs, and each line once", async (t) => {
    const { log, text } = captureLogger()
    const stop = new AbortController()
    const lines = ['sh', '-c', 'for i in $(seq 1 40); do echo "line $i"; done; echo "waiting"; exec sleep 600']
    const running = runJobService(docker, TEMPLATE, ledger, { name: 'talks', nodeId, volumes: [], env: [], command: lines, maxRunMs: 600_000, docker: false }, log, stop.signal)
    let ended = false
    void running.finally(() => (ended = true))
    for (let i = 0; i < 600 && !/talks: waiting/.test(text()); i++) await sleep(100)
    t.match(text(), /INFO\s+talks: waiting/, 'its last line so far is in the log')
    t.notOk(ended, 'while the job still runs')
    stop.abort()
    t.match(await running, { reason: 'stopped' })
    t.equal(text().match(/talks: line \d+$/gm)?.length, 40, 'every line, once')

    const { log: log2, text: text2 } = captureLogger()
    const outcome = await runJobService(docker, TEMPLATE, ledger, { name: 'talks-ends', nodeId, volumes: [], env: [], command: ['sh', '-c', 'for i in $(seq 1 40); do echo "line $i"; done; sleep 2; echo "last"'], maxRunMs: 600_000, docker: false }, log2)
    t.match(outcome, { exitCode: 0 })
    t.equal(text2().match(/talks-ends: line \d+$/gm)?.length, 40, 'followed or read at the end, every line once')
    t.equal(text2().match(/talks-ends: last$/gm)?.length, 1)
    t.ok(await containersGone('talks-ends'), 'no ended container is left to hold what it mounted')

    // What the job's log says of its run is read once, whether followed or read at the end.
    const id = 'a'.repeat(64)
    const said = ['sh', '-c', `echo "2026-12-04T03:00:00.000Z WARN  guard: rejected snapshot ${id}"; sleep 2; echo "2026-12-04T03:00:02.000Z INFO  run: the backup is complete and accepted"; exit 1`]
    const { log: log3, text: text3 } = captureLogger()
    const judged = await runJobService(docker, TEMPLATE, ledger, { name: 'says', nodeId, volumes: [], env: [], command: said, maxRunMs: 600_000, docker: false }, log3)
    t.equal(text3().match(/says: guard: rejected snapshot a{64}$/gm)?.length, 1, 'the line read once')
    t.match(judged, { exitCode: 1, backupAccepted: true }, 'the backup accepted before the failure')
    t.same(judged.rejectedSnapshots, [id], 'one rejected snapshot, once')
  })

  t.test('a job seen to end is in the ledger, for the locks it may have left', async (t) => {
    const { log } = captureLogger()
    const outcome = await runJobService(docker, TEMPLATE, ledger, { name: 'ends', nodeId, volumes: [], env: [], command: ['sh', '-c', 'exit 3'], maxRunMs: 600_000, docker: false }, log)
    t.match(outcome, { exitCode: 3 })
    t.match(await readFile(join(dir, 'ended-jobs'), 'utf8'), new RegExp(`^${ledger.prefix}ends-[a-z0-9]+ failed$`, 'm'))
  })
})
