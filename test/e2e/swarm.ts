// End to end on a real 3-node Swarm (test/e2e/start-swarm: Docker engines in containers): one
// controller, deployed from the top-level stack.yml, backs up a Postgres on one worker (with its
// pre-hook dump) and a service with two volumes on another, follows label changes live, reports bad
// labels, and cleans up after a crash. The seed's single-service mode runs its hooks on a worker.
import { mkdtemp, rm } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { swarmUnavailable } from '../fixtures/docker.js'
import { readmeShellBlocks } from '../fixtures/readme.js'
import { nodeEnv, sim, startSimulatedSwarm, waitFor } from '../fixtures/swarm.js'
import { containerOf, controllerLog, deployStack, jobServices, rds, removeStack, runReadme, snapshotsOf, STACK } from '../fixtures/swarm-stack.js'

const EXTRA_SERVICES = ['rds-test-extra', 'rds-test-badlabel', 'rds-test-single', 'rds-test-unlabelled', 'rds-test-overdue']
// What the quick start's restore step starts.
const README_RESTORE_CONTAINER = 'db-restored'
// A listing of every file under the given folders with its checksum, relative to each folder.
const CHECKSUMS = 'for d in "$@"; do (cd "$d" && find . -type f -exec sha256sum {} + | sort -k 2); done'

t.setTimeout(20 * 60 * 1000)

const unavailable = await swarmUnavailable()
if (unavailable) {
  if (process.env.CI) t.fail(`${unavailable}; run test/e2e/start-docker first`)
  else t.plan(0, `${unavailable}; run test/e2e/start-docker to include the multi-node end-to-end test`)
} else {
  await runOnSimulatedSwarm()
}

const newestSnapshot = async (host: string) => (await snapshotsOf(host)).at(-1)?.id

const tearDown = () => removeStack([README_RESTORE_CONTAINER], EXTRA_SERVICES)

async function runOnSimulatedSwarm() {
  const dir = await mkdtemp(join(tmpdir(), 'rds-swarm-'))

  t.before(async () => {
    await startSimulatedSwarm()
    await tearDown()
    await deployStack(dir)
  })

  t.teardown(async () => {
    await tearDown()
    await rm(dir, { recursive: true, force: true })
  })

  t.test('one controller backs up a Postgres on one worker (with its dump) and two volumes on another', async (t) => {
    // The first run of db may come before the table: wait for a snapshot after it.
    const db = await waitFor('a snapshot of backup_db with the table', async () => {
      const dump = await rds(['export', '--host', `${STACK}_db`, '--path', '/volumes/db-dump/all.sql'])
      return dump.exitCode === 0 && dump.stdout.includes('CREATE TABLE public.rows_to_keep') ? dump.stdout : undefined
    }, 180)
    const rows = db.slice(db.indexOf('COPY public.rows_to_keep')).split('\n')
    t.equal(rows.indexOf('\\.') - 1, 1000, 'the dump holds all 1000 rows')
    const web = await waitFor('a snapshot of backup_web', async () => (await snapshotsOf(`${STACK}_web`))[0], 120)
    t.same(web.paths, ['/volumes'], 'paths do not depend on the node')
    // docker service logs may lag behind the service's output by a moment.
    const log = await waitFor('both runs in the log', async () => {
      const text = await controllerLog()
      return /controller: backup_db: backed up/.test(text) && /controller: backup_web: backed up/.test(text) ? text : undefined
    }, 30)
    t.match(log, /controller: backup_db: backed up on rds-sim2/)
    t.match(log, /controller: backup_web: backed up on rds-sim3/)
    t.match(log, /backup_db: pre-hook: running in backup_db/, 'the hook ran on the worker that runs the database')
  })

  t.test("the README's quick start for the whole Swarm, as written: a backup now, rds jobs, the dump restored into a fresh Postgres", async (t) => {
    const blocks = await readmeShellBlocks('The whole Swarm').then((blocks) => blocks.slice(1))
    let ran = await runReadme(blocks, dir)
    // The schedule here is every 20 s: a run by hand that meets a scheduled one is refused (exit
    // code 11, the run lock), as the README says; then it is tried again once that run is done.
    if (ran.exitCode !== 0 && /another run of backup_db is in progress/.test(ran.all)) {
      t.comment('the run by hand met a scheduled run; trying again')
      await sleep(8000)
      await sim('rds-sim1', ['rm', '-f', README_RESTORE_CONTAINER]).catch(() => undefined)
      ran = await runReadme(blocks, dir)
    }
    t.equal(ran.exitCode, 0, ran.all)
    t.match(ran.all, /controller: backup_db: starting on rds-sim2[\s\S]*backup_db: pre-hook: done[\s\S]*controller: backup_db: backed up on rds-sim2/)
    t.match(ran.all, /^backup_db: "\*\/20 \* \* \* \* \*" on rds-sim2, next run \S+; last run succeeded/m)
    t.match(ran.all, /^backup_web: "10,30,50 \* \* \* \* \*" on rds-sim3/m)
    const rows = await sim('rds-sim1', ['exec', 'db-restored', 'psql', '-U', 'postgres', '-At', '-c', 'SELECT count(*), sum(n) FROM rows_to_keep'])
    t.equal(rows.trim(), '1000|500500', 'every row came back into the fresh database')
  })

  t.test("the web service's snapshot restores to identical bytes, without the excluded file", async (t) => {
    const web = await containerOf('rds-sim3', `${STACK}_web`)
    const live = await sim('rds-sim3', ['exec', web, 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html', '/srv/uploads'])
    const restored = await rds(['restore', 'latest', '--host', `${STACK}_web`, '--target', '/tmp/restored-web'])
    t.equal(restored.exitCode, 0, restored.stderr)
    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    const back = await sim('rds-sim1', ['exec', agent, 'sh', '-c', CHECKSUMS, 'checksums', '/tmp/restored-web/volumes/site', '/tmp/restored-web/volumes/uploads'])
    t.equal(back, live.split('\n').filter((line) => !line.endsWith('skip.tmp')).join('\n'))
    t.match(back, /big\.bin/)
    t.equal(back.split('\n').length, 201)
  })

  t.test('rds.backup.run-at changed with docker service update takes effect at once, with no restart', async (t) => {
    const agentBefore = await containerOf('rds-sim1', `${STACK}_agent`)
    const started = Date.now()
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.run-at=0 0 1 1 *', `${STACK}_web`])
    await waitFor('the new schedule in the log', async () => /backup_web: schedule "10,30,50 \* \* \* \* \*" -> "0 0 1 1 \*"/.test(await controllerLog()) || undefined, 30)
    t.comment(`label change to new schedule: ${Date.now() - started} ms (docker service update included)`)
    // The Docker CLI's update reorders the service's mounts, which restarts its task: its node is
    // known again once the new task runs.
    const jobs = await waitFor('the new schedule and the node in rds jobs', async () => {
      const listed = JSON.parse((await rds(['jobs', '--json'])).stdout) as { name: string; schedule?: string; node?: string }[]
      return listed.find((job) => job.name === 'backup_web' && job.node === 'rds-sim3') ? listed : undefined
    }, 30)
    t.match(jobs, [{ name: 'backup_db' }, { name: 'backup_web', schedule: '0 0 1 1 *', node: 'rds-sim3' }])
    t.equal(await containerOf('rds-sim1', `${STACK}_agent`), agentBefore, 'the controller was not restarted')
  })

  t.test('a new labelled service is picked up, and dropped once removed', async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-extra', '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *',
      '--mount', 'type=volume,src=rds-test-extra,dst=/data', '--constraint', 'node.hostname==rds-sim2', '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    await waitFor('the new service in rds jobs', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === 'rds-test-extra' && job.node === 'rds-sim2') || undefined, 60)
    await sim('rds-sim1', ['service', 'rm', 'rds-test-extra'])
    await waitFor('the service to be dropped', async () => /controller: rds-test-extra: dropped/.test(await controllerLog()) || undefined, 30)
    t.notOk(JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string }) => job.name === 'rds-test-extra'))
  })

  t.test('a service with a bad label is reported by rds jobs; the others still run', async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-badlabel', '--label', 'rds.backup=true', '--label', 'rds.backup.keep-daily=seven',
      '--mount', 'type=volume,src=rds-test-bad,dst=/data', '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    const message = 'service rds-test-badlabel: label rds.backup.keep-daily must be a whole number of snapshots to keep (or -1 for all), not "seven".'
    const jobs = await waitFor('the bad label in rds jobs', async () => {
      const listed = await rds(['jobs'])
      return listed.stdout.includes(message) ? listed : undefined
    }, 30)
    t.equal(jobs.exitCode, 1, 'rds jobs fails, for monitoring')
    // Retention (keep-daily) keeps one snapshot a day: a new run shows as a new newest snapshot.
    const before = await newestSnapshot(`${STACK}_db`)
    await waitFor('another snapshot of backup_db', async () => (await newestSnapshot(`${STACK}_db`)) !== before || undefined, 90)
    await sim('rds-sim1', ['service', 'rm', 'rds-test-badlabel'])
  })

  t.test('rds coverage shows every volume on every node: a volume nobody labelled is NOT COVERED', async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-unlabelled', '--constraint', 'node.hostname==rds-sim3',
      '--mount', 'type=volume,src=rds-test-free,dst=/data', '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    await containerOf('rds-sim3', 'rds-test-unlabelled')
    const coverage = await rds(['coverage', '--json'])
    t.equal(coverage.exitCode, 1, 'a volume in use is not covered')
    const rows = JSON.parse(coverage.stdout) as { node: string; volume: string; status: string; job?: string; lastSnapshot?: string }[]
    const row = (node: string, volume: string) => rows.find((r) => r.node === node && r.volume === volume)
    t.match(row('rds-sim3', 'rds-test-free'), { status: 'NOT COVERED', services: ['rds-test-unlabelled'] })
    t.match(row('rds-sim2', `${STACK}_db-dump`), { status: 'covered', job: `${STACK}_db`, lastSnapshot: /^\d{4}-/ })
    t.match(row('rds-sim2', `${STACK}_db-data`), { status: 'excluded' })
    t.match(row('rds-sim3', `${STACK}_site`), { status: 'covered', job: `${STACK}_web` })
    t.match(row('rds-sim3', `${STACK}_uploads`), { status: 'covered', job: `${STACK}_web` })
    t.match(row('rds-sim1', `${STACK}_repositories`), { status: 'excluded' }, 'the server says rds.backup=false')
    const text = await rds(['coverage'])
    t.match(text.stdout, /^rds-sim3 {2}rds-test-free {2}NOT COVERED {2}used by rds-test-unlabelled$/m)
    const names = await sim('rds-sim1', ['service', 'ls', '--format', '{{.Name}}', '--filter', 'label=rds.job'])
    t.notMatch(names, /rds-survey-/, 'the survey job is removed')
    await sim('rds-sim1', ['service', 'rm', 'rds-test-unlabelled'])
  })

  t.test('the controller killed mid-run leaves no job service behind, and the next run succeeds', async (t) => {
    await waitFor('a job service of a run in progress', async () => (await jobServices()).length > 0 || undefined, 60)
    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    await sim('rds-sim1', ['kill', agent])
    t.ok((await jobServices()).length > 0, 'the job service outlived the controller')
    await waitFor('a new controller', async () => (await containerOf('rds-sim1', `${STACK}_agent`)) !== agent || undefined, 120)
    await waitFor('the left-over job service to be removed', async () => /removing job service rds-job-/.test(await controllerLog()) || undefined, 60)
    const before = await newestSnapshot(`${STACK}_db`)
    await waitFor('a snapshot after the restart', async () => (await newestSnapshot(`${STACK}_db`)) !== before || undefined, 90)
    // Between runs no job service is left.
    await waitFor('no job service', async () => (await jobServices()).length === 0 || undefined, 30)
  })

  t.test('each job\'s status survives the controller; an OVERDUE job turns it unhealthy until a good run', async (t) => {
    const status = async () => JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { state: string; watchedSince: string; snapshots?: number; lastSnapshot?: { id: string } }> }
    t.match((await status()).jobs[`${STACK}_db`], { state: /^(OK|RUNNING)$/, snapshots: Number, lastSnapshot: { id: /^[0-9a-f]{64}$/ } }, 'the controller records each run and its snapshot')

    // A service that is never due on its schedule, and may go 20 s without a backup; health checks every 2 s.
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-overdue', '--constraint', 'node.hostname==rds-sim2', '--mount', 'type=volume,src=rds-test-overdue,dst=/data',
      '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', 'rds.backup.overdue-after=20s', '--init', 'debian:trixie-slim', 'sh', '-c', 'echo data > /data/file; exec sleep infinity',
    ])
    await sim('rds-sim1', ['service', 'update', '--detach', '--health-interval', '2s', '--health-retries', '2', '--health-start-period', '15s', `${STACK}_agent`])
    const watched = await waitFor('the job in the status', async () => (await status()).jobs['rds-test-overdue'], 120)
    await waitFor('the job to be OVERDUE', async () => (await status()).jobs['rds-test-overdue']?.state === 'OVERDUE' || undefined, 60)
    // Swarm stops an unhealthy task (it exits 0 on SIGTERM: "Complete") and starts another.
    const before = await containerOf('rds-sim1', `${STACK}_agent`)
    await waitFor('Swarm to replace the unhealthy controller', async () => (await containerOf('rds-sim1', `${STACK}_agent`)) !== before || undefined, 120)
    t.equal((await sim('rds-sim1', ['inspect', '-f', '{{.State.Health.Status}}', before])).trim(), 'unhealthy', 'the controller it replaced was unhealthy')
    const after = await waitFor('the new controller to read the status', async () => (await status()).jobs['rds-test-overdue'], 120)
    t.equal(after.watchedSince, watched.watchedSince, 'the new controller kept the status (the agent-state volume): the failure did not disappear')
    t.equal(after.state, 'OVERDUE')

    const run = await rds(['backup', '--service', 'rds-test-overdue'])
    t.equal(run.exitCode, 0, run.stderr)
    t.equal((await rds(['health'])).exitCode, 0, 'a good run makes it healthy')
    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    await waitFor('the container to be healthy', async () => (await sim('rds-sim1', ['inspect', '-f', '{{.State.Health.Status}}', agent])).trim() === 'healthy' || undefined, 30)
    await sim('rds-sim1', ['service', 'rm', 'rds-test-overdue'])
    await waitFor('the job to be dropped from the status', async () => !(await status()).jobs['rds-test-overdue'] || undefined, 30)
    t.equal(await containerOf('rds-sim1', `${STACK}_agent`), agent, 'and stays up')
  })

  t.test("the single-service mode runs its hooks on a worker node", async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-single', '--constraint', 'node.hostname==rds-sim2', '--network', `${STACK}_backup`,
      '--mount', `type=volume,src=${STACK}_db-dump,dst=/backup,readonly`, '--mount', 'type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock',
      '--secret', 'source=restic-ssh-privkey,mode=0400', '--secret', 'restic-ssh-known-hosts', '--secret', 'restic-repo-password',
      '-e', 'SSH_HOST=server', '-e', 'SSH_PORT=2222', '-e', 'REPO_PATH=single', '-e', 'RUN_AT=0 3 * * *', '-e', `SERVICE_NAME=${STACK}_db`,
      '-e', 'PRE_HOOK=pg_dumpall -U postgres -f /dump/single.sql', '-e', 'POST_HOOK=rm -f /dump/single.sql', 'restic-docker-swarm-agent:latest',
    ])
    const single = await containerOf('rds-sim2', 'rds-test-single')
    const run = await execa('docker', ['exec', single, 'rds', 'backup'], { env: nodeEnv('rds-sim2'), reject: false })
    t.equal(run.exitCode, 0, run.stderr)
    t.match(run.stderr, /pre-hook: running in backup_db[\s\S]*pre-hook: done[\s\S]*backup: snapshot [0-9a-f]{8} saved[\s\S]*post-hook: done/)
  })
}
