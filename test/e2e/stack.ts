// End to end: the README's quick start, run as written, then both images in a real single-node
// Docker Swarm, deployed from stack.single-service.yml (plus test/e2e/stack.extra.yml), backing up a
// real Postgres on schedule.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa } from 'execa'
import { useHostEngine } from '../fixtures/docker.js'
import { readmeShellBlocks } from '../fixtures/readme.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// The name the README's quick start deploys the stack under.
const STACK = 'backup'
const SECRETS = ['db-password', 'restic-ssh-privkey', 'restic-ssh-authorized-keys', 'restic-repo-password', 'restic-ssh-known-hosts']
const RESTORE_CONTAINER = `${STACK}-restore`
const HEALTH_CONTAINER = `${STACK}-health`
// What the quick start's restore step starts.
const README_RESTORE_CONTAINER = 'db-restored'
// The image the quick start names; here, where nothing can be pulled, a tag of the test's own Postgres.
const POSTGRES = 'postgres:17'


t.setTimeout(15 * 60 * 1000)

const docker = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) =>
  execa('docker', args, { reject: false, cwd: ROOT, input: options.input, env: options.env })

async function dockerOk(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  const result = await docker(args, options)
  if (result.exitCode !== 0) throw new Error(`docker ${args.join(' ')} failed: ${result.stderr}`)
  return result.stdout
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, seconds = 120): Promise<T> {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    const value = await check()
    if (value) return value
    await sleep(1000)
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`)
}

/** The running containers of a service of the stack. */
async function containers(service: string): Promise<string[]> {
  const out = await dockerOk(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_${service}`, '--filter', 'status=running'])
  return out.split('\n').filter(Boolean)
}

const container = async (service: string) => waitFor(`a running ${service} container`, async () => (await containers(service))[0])

async function tearDown(): Promise<void> {
  // The plain containers first (with their anonymous volumes): a network that still has a container
  // attached outlives "stack rm".
  await docker(['rm', '-f', '-v', RESTORE_CONTAINER, HEALTH_CONTAINER, README_RESTORE_CONTAINER])
  await docker(['stack', 'rm', STACK])
  await waitFor('the stack to be gone', async () => (await dockerOk(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${STACK}`])) === '' || undefined)
  await waitFor('the stack networks to be gone', async () => {
    const networks = (await dockerOk(['network', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${STACK}`])).split('\n').filter(Boolean)
    if (networks.length > 0) await docker(['network', 'rm', ...networks])
    return networks.length === 0 || undefined
  })
  const volumes = (await dockerOk(['volume', 'ls', '-q', '--filter', `name=^${STACK}_`])).split('\n').filter(Boolean)
  if (volumes.length > 0) await docker(['volume', 'rm', '-f', ...volumes])
  // A removed service's tasks keep its secrets in use a moment longer: asked again until all are gone.
  await waitFor('the secrets to be gone', async () => {
    const left = (await dockerOk(['secret', 'ls', '--format', '{{.Name}}'])).split('\n').filter((name) => SECRETS.includes(name))
    if (left.length > 0) await docker(['secret', 'rm', ...left])
    return left.length === 0 || undefined
  })
}

/** Runs README code blocks, as written, in one bash that stops at the first failing command. */
const runReadme = (blocks: string[], cwd: string, env: Record<string, string> = {}) =>
  execa('bash', ['-e', '-o', 'pipefail', '-c', blocks.join('\n')], { cwd, reject: false, all: true, env })

const unavailable = await useHostEngine(t)
// The quick start deploys under the name "backup": never touch such a stack on a machine of a person.
const foreignStack = !unavailable && !process.env.CI && (await docker(['stack', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').includes(STACK)
if (unavailable) {
  // In CI a missing engine is a failure: .ci/run starts one (test/e2e/start-docker).
  if (process.env.CI) t.fail(`${unavailable}; run test/e2e/start-docker first`)
  else t.plan(0, `${unavailable}; run test/e2e/start-docker to include the end-to-end test`)
} else if (foreignStack) {
  t.plan(0, `this engine runs a stack named ${STACK}, the name the README's quick start uses; remove it (or run with CI=true) to include the end-to-end test`)
} else {
  await runEndToEnd()
}

async function runEndToEnd() {
  const dir = await mkdtemp(join(tmpdir(), 'rds-e2e-'))
  let bootstrapKnownHosts = ''

  const secrets = join(dir, 'restic-secrets')
  let postgresTagged = false
  let quickStart: Record<string, string> = {}

  t.before(async () => {
    await tearDown()
    await dockerOk(['build', '-q', '-t', 'rds-test-postgres:latest', 'test/e2e/postgres'])
    if ((await docker(['image', 'inspect', POSTGRES])).exitCode !== 0) {
      await dockerOk(['tag', 'rds-test-postgres:latest', POSTGRES])
      postgresTagged = true
    }
    // Steps 1 to 3 are the first blocks of the quick start, shared by both ways; 4 to 6 are "One service".
    const blocks = [...(await readmeShellBlocks('Quick start')).slice(0, 3), ...(await readmeShellBlocks('One service'))]
    if (blocks.length !== 6) throw new Error(`the README's quick start for one service has ${blocks.length} shell blocks; this test runs six steps`)
    const [images, createSecrets, knownHosts, deploy, firstBackup, restore] = blocks as [string, string, string, string, string, string]
    quickStart = { firstBackup, restore }

    // 1. Build the images: there is no registry to pull them from.
    const built = await runReadme([images], ROOT)
    if (built.exitCode !== 0) throw new Error(`quick start step 1 failed: ${built.all}`)
    // 2. and 3. The secrets and the server's known_hosts, in a scratch directory.
    const made = await runReadme([createSecrets, knownHosts], dir)
    if (made.exitCode !== 0) throw new Error(`quick start steps 2 and 3 failed: ${made.all}`)
    bootstrapKnownHosts = await readFile(join(secrets, 'restic-ssh-known-hosts'), 'utf8')
    // 4. Deploy a copy of stack.single-service.yml.
    await copyFile(join(ROOT, 'stack.single-service.yml'), join(dir, 'stack.single-service.yml'))
    const deployed = await runReadme([deploy], dir)
    if (deployed.exitCode !== 0) throw new Error(`quick start step 4 failed: ${deployed.all}`)
    await waitForServices(3)
    const db = await container('db')
    await waitFor('postgres to accept connections', async () => (await docker(['exec', db, 'psql', '-U', 'postgres', '-c', 'select 1'])).exitCode === 0 || undefined)
    await dockerOk(['exec', db, 'psql', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', 'CREATE TABLE rows_to_keep (n int); INSERT INTO rows_to_keep SELECT generate_series(1, 1000);'])
  })

  async function waitForServices(count: number) {
    await waitFor(`${count} services to run`, async () => {
      const lines = (await dockerOk(['service', 'ls', '--filter', `label=com.docker.stack.namespace=${STACK}`, '--format', '{{.Replicas}}'])).split('\n')
      return lines.length === count && lines.every((line) => /^(\d+)\/\1$/.test(line.trim())) ? true : undefined
    })
  }

  t.teardown(async () => {
    await tearDown()
    if (postgresTagged) await docker(['rmi', POSTGRES])
    await rm(dir, { recursive: true, force: true })
  })

  t.test("the README's quick start, as written: a first backup, a restore into a fresh Postgres, the health, a one-off restore", async (t) => {
    const health = await readmeShellBlocks('Health')
    const ran = await runReadme([quickStart.firstBackup!, quickStart.restore!, ...health], dir)
    t.equal(ran.exitCode, 0, ran.all)
    t.match(ran.all, /backup: snapshot [0-9a-f]{8} saved[\s\S]*run: succeeded/)
    // Docker says "starting" until the container's first health check, 30 s after it started.
    t.match(ran.all, /\n\S+: OK; last success \S+; snapshot [0-9a-f]{8} \(\d+ files?\), \d+ in all; overdue at \S+\n\S+: OK; [^\n]+\n(healthy|starting)$/)
    const rows = await dockerOk(['exec', README_RESTORE_CONTAINER, 'psql', '-U', 'postgres', '-At', '-c', 'SELECT count(*), sum(n) FROM rows_to_keep'])
    t.equal(rows.trim(), '1000|500500', 'every row came back into the fresh database')

    const oneOff = await readmeShellBlocks('From a one-off container')
    const restored = await runReadme(oneOff, dir)
    t.equal(restored.exitCode, 0, restored.all)
    t.match(restored.all, /^all\.sql$/m, 'the dump was restored from a one-off container, with the secrets the quick start kept')
    await docker(['rm', '-f', '-v', README_RESTORE_CONTAINER])

    // The Restoring section's blocks of rds commands alone are meant for the agent's shell.
    const inAgent = (await readmeShellBlocks('Restoring')).filter((block) => block.split('\n').every((line) => /^rds [^|]*$/.test(line)))
    t.ok(inAgent.length >= 3, `${inAgent.length} blocks of rds commands`)
    const agent = await container('db-backup')
    for (const block of inAgent) {
      const ran = await docker(['exec', agent, 'sh', '-e', '-c', block])
      t.equal(ran.exitCode, 0, `in the agent: ${block}\n${ran.stderr}`)
    }
    t.match(await dockerOk(['exec', agent, 'ls', '/tmp/one/backup']), /^all\.sql$/m, 'rds restore --path restored the one file')
    t.ok((await dockerOk(['exec', agent, 'tar', '-tf', '/tmp/backup.tar'])).includes('backup/all.sql'), 'rds export wrote a tar with the dump')
  })

  t.test('the stack, redeployed with a second service and a schedule every 20 seconds', async (t) => {
    await dockerOk(['stack', 'deploy', '-c', 'stack.single-service.yml', '-c', 'test/e2e/stack.extra.yml', STACK], {
      env: { STACK_NAME: STACK, RUN_AT: '*/20 * * * * *' },
    })
    await waitForServices(5)
    t.pass('the five services run')
  })

  t.test('the server generates its host keys on first boot and writes known_hosts for its service name', async (t) => {
    t.match(bootstrapKnownHosts, /^\[server\]:2222 ssh-ed25519 \S+\n\[server\]:2222 ssh-rsa \S+\n$/)
    const server = await container('server')
    t.equal((await dockerOk(['exec', server, 'cat', '/etc/ssh/host_fingerprints/known_hosts'])).trim(), bootstrapKnownHosts.trim(), 'the running server has the keys made at bootstrap')
    const logs = await docker(['service', 'logs', '--raw', `${STACK}_server`])
    t.match(logs.stdout + logs.stderr, /SHA256:\S+ restic-docker-swarm-server \(ED25519\)/, 'the fingerprints are in the log')
  })

  t.test('a Postgres dump is backed up on schedule, the post-hook removes it, and it restores into a fresh Postgres', async (t) => {
    const db = await container('db')
    await dockerOk(['exec', db, 'psql', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', 'INSERT INTO rows_to_keep SELECT generate_series(1001, 2000);'])
    const inserted = new Date()
    const agent = await waitFor('the agent with the new schedule', async () => {
      const id = (await containers('db-backup'))[0]
      return id && /\*\/20 \* \* \* \* \*/.test(await dockerOk(['inspect', '-f', '{{.Config.Env}}', id])) ? id : undefined
    })
    const runLog = await waitFor('a scheduled backup after the insert', async () => {
      const logs = await docker(['logs', '--since', inserted.toISOString(), agent])
      const text = logs.stdout + logs.stderr
      // A run that started after the insert, and its end.
      return /run: starting[\s\S]*run: succeeded/.test(text) ? text : undefined
    }, 90)
    t.match(runLog, /pre-hook: running in backup_db/)
    t.match(runLog, /backup: snapshot [0-9a-f]{8} saved/)
    t.match(runLog, /post-hook: done/)
    t.equal(await dockerOk(['exec', db, 'ls', '-A', '/dump']), '', 'the post-hook removed the dump')
    const server = await container('server')
    t.not(await dockerOk(['exec', server, 'ls', '/home/restic/db/snapshots']), '', "the snapshot is in the server's repository")

    // The newest snapshot, as restic finds it under its own lock: a scheduled run (every 20 s) makes
    // newer ones meanwhile, its retention (KEEP_DAILY) forgets the older ones of the day and holds the
    // repository's lock while it does.
    const dump = await dockerOk(['exec', agent, 'runrestic', '--retry-lock', '2m', 'dump', 'latest', '/backup/all.sql'])
    t.match(dump, /CREATE TABLE public\.rows_to_keep/)
    await dockerOk(['run', '-d', '--name', RESTORE_CONTAINER, '-e', 'POSTGRES_PASSWORD=restore', 'rds-test-postgres:latest'])
    await waitFor('the fresh postgres', async () => (await docker(['exec', RESTORE_CONTAINER, 'psql', '-U', 'postgres', '-c', 'select 1'])).exitCode === 0 || undefined)
    await dockerOk(['exec', '-i', RESTORE_CONTAINER, 'psql', '-U', 'postgres', '-q'], { input: dump })
    const rows = await dockerOk(['exec', RESTORE_CONTAINER, 'psql', '-U', 'postgres', '-At', '-c', 'SELECT count(*), sum(n) FROM rows_to_keep'])
    t.equal(rows.trim(), '2000|2001000', 'every row came back')

    // From inside the agent's container: restore into a new volume through a helper container of
    // the agent's own image. A scheduled run (every 20 s) may hold the repository's lock for its
    // retention (the restore says so, exit code 11), or its retention (KEEP_DAILY) may have forgotten
    // the snapshot the restore was given: then the restore is run again, with the newest snapshot,
    // once that run has ended. The database is not written meanwhile, so every newer dump is the same.
    const restore = () => docker(['exec', agent, 'rds', 'restore', 'latest', '--to-volume', `${STACK}_restored-dump`])
    let restored = await restore()
    for (let attempt = 1; attempt <= 5 && (restored.exitCode === 11 || /failed to find snapshot/.test(restored.stderr)); attempt++) {
      await waitFor('the scheduled run to end', async () => !/: RUNNING;/.test((await docker(['exec', agent, 'rds', 'status'])).stdout) || undefined)
      restored = await restore()
    }
    t.equal(restored.exitCode, 0, restored.stderr)
    const inVolume = await dockerOk(['run', '--rm', '-v', `${STACK}_restored-dump:/restored:ro`, 'debian:trixie-slim', 'cat', '/restored/all.sql'])
    // The restore may be of a newer snapshot (above): its dump holds the same data, but pg_dumpall
    // (Postgres 17.6 and later) writes a random key of its own in each dump's \restrict lines.
    const withoutKeys = (text: string) => text.replace(/^\\(un)?restrict \S+$/gm, '\\$1restrict KEY')
    t.match(inVolume, /CREATE TABLE public\.rows_to_keep/)
    t.equal(withoutKeys(inVolume), withoutKeys(dump), 'the dump is in the new volume')
  })

  t.test('with two replicas, the hooks run in exactly one of them', async (t) => {
    const replicas = await containers('web')
    t.equal(replicas.length, 2)
    const agent = await container('web-backup')
    const backup = await docker(['exec', agent, 'rds', 'backup'])
    t.equal(backup.exitCode, 0, backup.stderr)
    const marks = await Promise.all(replicas.map(async (id) => (await docker(['exec', id, 'cat', '/tmp/hook-ran'])).stdout))
    t.same(marks.filter(Boolean), ['pre-hook ran\npost-hook ran (success)'], 'one replica ran both hooks, the other none')
  })

  t.test('the server refuses a password login, a root login, a shell command and port forwarding', async (t) => {
    const agent = await container('db-backup')
    const ssh = (args: string[]) =>
      docker(['exec', agent, 'ssh', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'UserKnownHostsFile=/run/secrets/restic-ssh-known-hosts', '-o', 'StrictHostKeyChecking=yes', '-p', '2222', ...args])
    const password = await ssh(['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', 'restic@server', 'true'])
    t.equal(password.exitCode, 255)
    t.match(password.stderr, /Permission denied \(publickey\)/)
    const root = await ssh(['-i', '/run/secrets/restic-ssh-privkey', 'root@server', 'true'])
    t.equal(root.exitCode, 255)
    t.match(root.stderr, /Permission denied/)
    const shell = await ssh(['-n', '-i', '/run/secrets/restic-ssh-privkey', 'restic@server', 'echo pwned'])
    t.notMatch(shell.stdout, /pwned/)
    t.match(shell.stdout + shell.stderr, /This service allows sftp connections only/)
    const forward = await ssh(['-i', '/run/secrets/restic-ssh-privkey', '-W', '127.0.0.1:2222', 'restic@server'])
    t.equal(forward.exitCode, 255)
    t.match(forward.stderr, /administratively prohibited/)
  })

  t.test("the agent's health: a failed run is reported but healthy; an OVERDUE job is unhealthy until a good run, with no restart", async (t) => {
    // A plain container of the agent image: Swarm would replace an unhealthy task at once, so the
    // same container could not be seen turning healthy again.
    const healthSecrets = join(dir, 'health-secrets')
    await execa('mkdir', ['-p', healthSecrets])
    await writeFile(join(healthSecrets, 'known_hosts'), bootstrapKnownHosts)
    await writeFile(join(healthSecrets, 'password'), await readFile(join(secrets, 'restic-repo-password')))
    await writeFile(join(healthSecrets, 'wrong-password'), 'not the password\n')
    await writeFile(join(healthSecrets, 'key'), await readFile(join(secrets, 'restic-ssh-privkey')), { mode: 0o400 })
    const web = (await containers('web')).length
    t.equal(web, 2)
    const agent = await dockerOk([
      'run', '-d', '--name', HEALTH_CONTAINER, '--network', `${STACK}_backup`,
      '--health-interval', '2s', '--health-retries', '1', '--health-start-period', '0s',
      '-v', `${healthSecrets}:/secrets:ro`,
      // Never due on its own schedule: OVERDUE_AFTER alone decides.
      '-e', 'SSH_HOST=server', '-e', 'REPO_PATH=health', '-e', 'RUN_AT=0 0 1 1 *', '-e', 'OVERDUE_AFTER=40s', '-e', 'BACKUP_PATH=/etc/ssh',
      '-e', 'SSH_PRIVKEY_FILE=/secrets/key', '-e', 'SSH_KNOWN_HOSTS_FILE=/secrets/known_hosts', '-e', 'RESTIC_REPO_PASSWORD_FILE=/secrets/password',
      'restic-docker-swarm-agent:latest',
    ])
    const health = async () => (await dockerOk(['inspect', '-f', '{{.State.Health.Status}}', agent])).trim()
    const started = async () => (await dockerOk(['inspect', '-f', '{{.State.StartedAt}} {{.RestartCount}}', agent])).trim()
    const startedAt = await started()
    await waitFor('healthy before any run', async () => (await health()) === 'healthy' || undefined, 60)
    t.equal((await docker(['exec', agent, 'rds', 'backup'])).exitCode, 0, 'a first run creates the repository')
    const failed = await docker(['exec', '-e', 'RESTIC_REPO_PASSWORD_FILE=/secrets/wrong-password', agent, 'rds', 'backup'])
    t.equal(failed.exitCode, 12)
    // Three more health checks after the failure.
    await sleep(6000)
    t.equal(await health(), 'healthy', 'a failed run alone is not unhealthy')
    const report = await docker(['exec', agent, 'rds', 'status'])
    t.equal(report.exitCode, 1)
    t.match(report.stdout, /^restic-docker-swarm: FAILING; last success \S+; last run FAILED \S+ \(exit 12\): restic backup failed: the password in RESTIC_REPO_PASSWORD_FILE \(\/secrets\/wrong-password\) is wrong/)
    await waitFor('unhealthy, 40 s after the last success', async () => (await health()) === 'unhealthy' || undefined, 60)
    const overdue = await docker(['exec', agent, 'rds', 'health'])
    t.equal(overdue.exitCode, 1)
    t.match(overdue.stdout, /OVERDUE since \S+[^\n]*\nunhealthy: 1 job\(s\) OVERDUE: restic-docker-swarm\n?$/)
    t.equal((await docker(['exec', agent, 'rds', 'backup'])).exitCode, 0)
    await waitFor('healthy again', async () => (await health()) === 'healthy' || undefined, 60)
    t.match(await dockerOk(['exec', agent, 'rds', 'health']), /^restic-docker-swarm: OK; last success \S+; snapshot [0-9a-f]{8} \(\d+ files?\), 2 in all; overdue at \S+$/)
    t.equal(await started(), startedAt, 'the same container throughout, never restarted')
  })

  t.test('a re-created server keeps its host key, and the next backup succeeds', async (t) => {
    const before = await container('server')
    await dockerOk(['service', 'update', '--force', '--detach', `${STACK}_server`])
    const after = await waitFor('a new server task', async () => (await containers('server')).find((id) => id !== before))
    t.not(after, before)
    await waitFor('the new server to listen', async () => /rds-server: serving on port/.test((await docker(['logs', after])).stderr) || undefined)
    t.equal((await dockerOk(['exec', after, 'cat', '/etc/ssh/host_fingerprints/known_hosts'])).trim(), bootstrapKnownHosts.trim())
    const agent = await container('web-backup')
    const backup = await docker(['exec', agent, 'rds', 'backup'])
    t.equal(backup.exitCode, 0, backup.stderr)
  })
}
