import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Cron } from 'croner'
import { writeJobsFile } from '../../lib/observe/jobs-file.js'
import { readStatus, updateStatus } from '../../lib/observe/status-file.js'
import type { ScheduledJob } from '../../lib/swarm/controller.js'
import { jobRows } from '../../lib/swarm/controller-options.js'
import { RDS, runBin } from '../fixtures/cli.js'

const rds = (args: string[], env: Record<string, string>) => runBin(RDS, args, env)
const backup = { service: 'app_db', schedule: '0 3 * * *', volumes: [{ name: 'dump', source: 'app_dump' }], repoPath: 'swarm', hooks: {}, restoreHooks: {}, excludes: [], retention: { prune: false }, maxRunTime: 86_400_000 }

t.test('rds jobs prints the table the controller keeps in JOBS_FILE, and fails when a job is in trouble', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-jobs-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'jobs.json')
  const cron = new Cron('0 3 * * *', { paused: true })
  t.teardown(() => cron.stop())
  const good: ScheduledJob = {
    job: { name: 'app_db', service: 'app_db', node: { nodeId: 'n2', nodeName: 'node-2' }, backup },
    cron,
    last: { startedAt: '2026-11-24T03:00:00.000Z', finishedAt: '2026-11-24T03:00:04.100Z', ok: true, message: 'backed up on node-2 in 4.1 s' },
  }
  await writeJobsFile(file, jobRows([good]))
  const env = { JOBS_FILE: file }
  const listed = await rds(['jobs'], env)
  t.equal(listed.exitCode, 0, listed.stderr)
  t.match(listed.stdout, /^app_db: "0 3 \* \* \*" on node-2, next run \d{4}-\d\d-\d\dT03:00:00\.000Z; last run succeeded at 2026-11-24T03:00:04\.100Z: backed up on node-2 in 4\.1 s\n$/)
  t.match(JSON.parse((await rds(['jobs', '--json'], env)).stdout), [{ name: 'app_db', node: 'node-2', schedule: '0 3 * * *', running: false, last: { ok: true } }])
  t.notMatch(await readFile(file, 'utf8'), /"backup"/, 'the table holds what rds jobs shows, not the whole job')

  const bad: ScheduledJob = { job: { name: 'app_bad', service: 'app_bad', error: 'service app_bad: label rds.backup.keep-daily must be a whole number of snapshots to keep (or -1 for all), not "x".' } }
  const failed: ScheduledJob = { ...good, job: { ...good.job, name: 'app_web', service: 'app_web' }, last: { ...good.last!, ok: false, message: 'the backup failed with exit code 1 after 2.0 s; its log is above.' } }
  await writeJobsFile(file, jobRows([good, bad, failed]))
  const trouble = await rds(['jobs'], env)
  t.equal(trouble.exitCode, 1, 'a bad label or a failed last run fails rds jobs, for monitoring')
  t.match(trouble.stdout, /^app_bad: LABEL ERROR: service app_bad: label rds.backup.keep-daily must be/m)
  t.match(trouble.stdout, /^app_web: .* last run FAILED at .*: the backup failed with exit code 1/m)
})

t.test('rds jobs --forget ends the job a per-node service kept for a node it left, and nothing else', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-jobs-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'status.json')
  const kept = { watchedSince: '2026-11-01T00:00:00Z', keptNode: { service: 'app_cache', nodeId: 'id-n3' }, rejectedSnapshots: ['abc'] }
  await updateStatus(file, (table) => void Object.assign(table.jobs, { 'app_cache@n3': kept, app_db: { watchedSince: '2026-11-01T00:00:00Z' } }))
  const forgotten = await rds(['jobs', '--forget', 'app_cache@n3'], { STATUS_FILE: file })
  t.equal(forgotten.exitCode, 0, forgotten.stderr)
  t.match(forgotten.stdout, /^app_cache@n3: forgotten; the controller drops it when the service has no task on that node \(its snapshots are kept\)\n$/)
  t.same((await readStatus(file)).jobs['app_cache@n3'], { watchedSince: '2026-11-01T00:00:00Z', rejectedSnapshots: ['abc'] }, 'its verdicts stay')
  t.same((await readStatus(file)).forgottenJobs, ['app_cache@n3'], 'remembered, so that its snapshots in the repository do not make it kept again')
  t.match(await rds(['jobs', '--forget', 'app_db'], { STATUS_FILE: file }), { exitCode: 2, stderr: /^rds: --forget: STATUS_FILE keeps no job app_db of a node; only a job SERVICE@NODE of a service with a job on every node is kept, and rds jobs lists them\.\n$/ })
  t.match(await rds(['jobs', '--forget', 'app_cache@n3'], {}), { exitCode: 2, stderr: /^rds: --forget needs STATUS_FILE/ })
  const jobsFile = join(dir, 'jobs.json')
  const running: ScheduledJob = { job: { name: 'app_cache@n2', service: 'app_cache', node: { nodeId: 'id-n2', nodeName: 'n2' }, perNode: true, backup } }
  await writeJobsFile(jobsFile, jobRows([running]))
  await updateStatus(file, (table) => void (table.jobs['app_cache@n2'] = { ...kept, keptNode: { service: 'app_cache', nodeId: 'id-n2' } }))
  t.match(await rds(['jobs', '--forget', 'app_cache@n2'], { STATUS_FILE: file, JOBS_FILE: jobsFile }), { exitCode: 2, stderr: /^rds: --forget: app_cache@n2 runs on its node; only a job that cannot run there \(rds jobs says CANNOT RUN\) can be forgotten\.\n$/ })
})

t.test('without the table, or without MODE=swarm, the swarm commands say what to do', async (t) => {
  t.match(await rds(['jobs'], {}), { exitCode: 2, stderr: /^rds: JOBS_FILE is not set; set it to the file where the controller keeps its jobs/ })
  t.match(await rds(['jobs'], { JOBS_FILE: '/nonexistent/jobs.json' }), { exitCode: 2, stderr: /^rds: there is no table of jobs at \/nonexistent\/jobs.json \(JOBS_FILE\) yet; run rds jobs in the container of the agent started with MODE=swarm\.\n$/ })
  const base = { SSH_HOST: 'server', REPO_PATH: 'swarm' }
  t.match(await rds(['backup', '--service', 'app_db'], base), { exitCode: 2, stderr: /^rds: --service needs MODE=swarm/ })
  t.match(await rds(['coverage'], base), { exitCode: 2, stderr: /^rds: coverage needs MODE=swarm/ })
  t.match(await rds(['agent'], { ...base, MODE: 'cluster' }), { exitCode: 2, stderr: /^rds: MODE must be "service" \(back up the volume at BACKUP_PATH\) or "swarm" \(back up every labelled service\), not "cluster"\.\n$/ })
})

t.test('a table of jobs that cannot be read is "could not check" (exit 4), never a failed job (exit 1)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-jobs-damaged-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'jobs.json'), '[{"name": ')
  t.match(await rds(['jobs'], { JOBS_FILE: join(dir, 'jobs.json') }), { exitCode: 4, stderr: /^rds: could not check: the table of jobs \S+jobs\.json \(JOBS_FILE\): .*JSON/ })
})

t.test("a run that another process made (rds backup --service) shows in rds jobs: the newer of the controller's table and STATUS_FILE", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-jobs-status-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'jobs.json')
  const statusFile = join(dir, 'status.json')
  const job: ScheduledJob = { job: { name: 'app_db', service: 'app_db', node: { nodeId: 'n2', nodeName: 'node-2' }, backup } }
  await writeJobsFile(file, jobRows([job]))
  const attempt = { startedAt: '2026-11-24T10:12:00.000Z', finishedAt: '2026-11-24T10:12:03.114Z', ok: true, exitCode: 0, message: 'backed up on node-2 in 4.1 s', durationSeconds: 3.1 }
  await updateStatus(statusFile, (table) => void (table.jobs['app_db'] = { watchedSince: '2026-11-24T00:00:00.000Z', lastAttempt: attempt, lastSuccess: attempt, failuresInARow: 0 }))
  const listed = await rds(['jobs'], { JOBS_FILE: file, STATUS_FILE: statusFile })
  t.equal(listed.exitCode, 0, listed.stderr)
  t.match(listed.stdout, /^app_db: "0 3 \* \* \*" on node-2, next run \S+; last run succeeded at 2026-11-24T10:12:03\.114Z: backed up on node-2 in 4\.1 s\n$/)
  // The controller's own record, when newer, stands.
  await writeJobsFile(file, jobRows([{ ...job, last: { startedAt: '2026-11-25T03:00:00.000Z', finishedAt: '2026-11-25T03:00:05.000Z', ok: false, message: 'the backup failed with exit code 1 after 2.0 s; its log is above.' } }]))
  const newer = await rds(['jobs'], { JOBS_FILE: file, STATUS_FILE: statusFile })
  t.equal(newer.exitCode, 1)
  t.match(newer.stdout, /last run FAILED at 2026-11-25T03:00:05\.000Z/)
})
