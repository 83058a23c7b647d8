// End to end on a real 3-node Swarm (test/e2e/start-swarm: Docker engines in containers): one
// controller, deployed from the top-level stack.yml, backs up a Postgres on one worker (its dump
// streamed into restic) and a service with two volumes on another, follows label changes live,
// reports bad labels, and cleans up after a crash. Services stopped for their backup (scaled to 0,
// or paused) always come back; a 1 GB database is dumped from a volume with less room than its
// dump. The seed's single-service mode runs its hooks, and a dump, on a worker.
// In a folder of its own whose name sorts first: the longest file of the suite starts first, and the
// others run beside it.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import t from 'tap'
import { execa } from 'execa'
import { parse } from 'yaml'
import { holdHostEngine, swarmUnavailable } from '../fixtures/docker.js'
import { readmeShellBlocks } from '../fixtures/readme.js'
import { NODES, nodeAddress, nodeEnv, rejoinSwarm, sim, startSimulatedSwarm, swarmOfItsOwn, waitFor, type SimNode } from '../fixtures/swarm.js'
import { ROOT } from '../fixtures/root.js'
import { startBackends, type Backend } from '../fixtures/backends.js'
import { accessibilityProblems, launchBrowser, watchPage } from '../fixtures/browser.js'
import { containerOf, controllerLog, definitionsOf, deployStack, FREQUENT, jobServices, RARE, rds, removeStack, runReadme, scheduledMeanwhile, serviceLog, setSchedule, snapshotsOf, STACK } from '../fixtures/swarm-stack.js'

// What the quick start's restore step starts.
const README_RESTORE_SERVICE = 'db-restored'
const QUEUED = ['rds-sim1', 'rds-sim2', 'rds-sim3'].flatMap((node) => [`rds-test-queue-${node}-a`, `rds-test-queue-${node}-b`])
const EXTRA_SERVICES = [...QUEUED, 'rds-test-slow', 'rds-test-extra', 'rds-test-badlabel', 'rds-test-single', 'rds-test-unlabelled', 'rds-test-overdue', 'rds-test-scale', 'rds-test-pause', 'rds-test-bigdb', 'rds-test-bigdb-fresh', 'rds-test-down', 'rds-test-global', 'rds-test-globalrestore', 'rds-test-ownrepo', 'rds-test-s3', 'rds-test-rest', 'rds-test-nowhere', 'rds-test-lostdb', 'rds-test-sqlite', 'rds-test-site_web', 'rds-test-shop_shop', 'rds-test-shop_front', README_RESTORE_SERVICE]
// A listing of every file under the given folders with its checksum, relative to each folder.
const CHECKSUMS = 'for d in "$@"; do (cd "$d" && find . -type f -exec sha256sum {} + | sort -k 2); done'

t.setTimeout(80 * 60 * 1000)
// Each test is given ten minutes (the longest takes about seven): one that hangs fails by its name,
// and the tests after it still run, rather than the whole file running out of time. A new object
// for each: tap writes into the options it is given (a --grep filter's skip, for one).
const each = () => ({ timeout: 10 * 60 * 1000 })

const unavailable = await swarmUnavailable()
if (unavailable) {
  if (process.env.CI) t.fail(`${unavailable}; run test/e2e/start-docker first`)
  else t.plan(0, `${unavailable}; run test/e2e/start-docker to include the multi-node end-to-end test`)
} else {
  await runOnSimulatedSwarm()
}

const newestSnapshot = async (host: string) => (await snapshotsOf(host)).at(-1)?.id

const tearDown = () => removeStack([], EXTRA_SERVICES)

/** Makes a change and waits until the controller's log says it saw it (one more line matching `change`). */
async function controllerSees(what: string, change: RegExp, update: () => Promise<unknown>) {
  const count = async () => (await controllerLog()).split('\n').filter((line) => change.test(line)).length
  const before = await count()
  await update()
  await waitFor(what, async () => (await count()) > before || undefined, 60)
}
const runningOnSim3 = () =>
  waitFor('backup_web running on rds-sim3', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === `${STACK}_web` && job.node === 'rds-sim3') || undefined, 60)
const HOOK_ADDED = /backup_web: .*restoreHooks \{\} -> \{"post":"exit 7"\}/
const HOOK_REMOVED = /backup_web: .*restoreHooks \{"post":"exit 7"\} -> \{\}/

async function runOnSimulatedSwarm() {
  const dir = await mkdtemp(join(tmpdir(), 'rds-swarm-'))

  t.before(async () => {
    // The machine's engine builds the images and runs the nodes: held for that, as the other
    // files that use it hold it; the nodes' own engines are this file's alone.
    const release = await holdHostEngine()
    try {
      await startSimulatedSwarm()
    } finally {
      await release()
    }
    await tearDown()
    await deployStack(dir)
  })

  t.teardown(async () => {
    await tearDown()
    await rm(dir, { recursive: true, force: true })
  })

  t.test('one controller backs up a Postgres on one worker (its dump streamed) and two volumes on another', each(), async (t) => {
    await scheduledMeanwhile(t, `${STACK}_db`, `${STACK}_web`)
    // The first run of db may come before the table: wait for a snapshot after it.
    const db = await waitFor('a snapshot of backup_db with the table', async () => {
      const dump = await rds(['export', '--host', `${STACK}_db`, '--path', '/pg_dumpall.sql'])
      return dump.exitCode === 0 && dump.stdout.includes('CREATE TABLE public.rows_to_keep') ? dump.stdout : undefined
    }, 180)
    const rows = db.slice(db.indexOf('COPY public.rows_to_keep')).split('\n')
    t.equal(rows.indexOf('\\.') - 1, 1000, 'the dump holds all 1000 rows')
    const web = await waitFor('a snapshot of backup_web', async () => (await snapshotsOf(`${STACK}_web`))[0], 120)
    t.same(web.paths, ['/volumes'], 'paths do not depend on the node')
    // A run is recorded once its retention is done, which waits for the other's backup (up to a minute).
    const log = await waitFor('both runs in the log', async () => {
      const text = await controllerLog()
      return /controller: backup_db: backed up/.test(text) && /controller: backup_web: backed up/.test(text) ? text : undefined
    }, 120)
    t.match(log, /controller: backup_db: backed up on rds-sim2/)
    t.match(log, /controller: backup_web: backed up on rds-sim3/)
    t.match(log, /backup_db: dump: streaming postgres from container [0-9a-f]{12} of backup_db into pg_dumpall\.sql/, 'the dump ran on the worker that runs the database')
    t.match((await snapshotsOf(`${STACK}_db`)).at(-1), { paths: ['/pg_dumpall.sql'], tags: ['dump'] })
  })

  t.test("each run saves its stack's definition; rds stack export writes it as a stack file, as of a time", each(), async (t) => {
    const saved = await waitFor('a saved definition of backup_web', async () => (await definitionsOf(`${STACK}_web`))[0], 60)
    t.same(saved.paths, ['/rds-definition.json'])
    t.ok(saved.tags?.includes(`rds-stack=${STACK}`), 'tagged with its stack')
    const status = await waitFor('the saved definition in rds status', async () => {
      const listed = await rds(['status'])
      return /^backup_web: .*; definition saved \d{4}-\S+;/m.test(listed.stdout) ? listed.stdout : undefined
    }, 60)
    t.match(status, /^backup_web: .*; definition saved \d{4}-\S+;/m, 'rds status says when its definition was last saved')
    // As Restoring's "A stack's definition" writes it.
    const exported = await runReadme(await readmeShellBlocks("A stack's definition"), dir)
    t.equal(exported.exitCode, 0, exported.all)
    const file = parse(await readFile(join(dir, 'backup-stack.yml'), 'utf8'))
    t.same(Object.keys(file.services).sort(), ['agent', 'db', 'server', 'web'], 'every service of the stack, those without data too')
    t.match(file.services.web.deploy, { labels: { 'rds.backup': 'true' }, placement: { constraints: ['node.hostname == rds-sim3'] } })
    t.match(file.services.db.environment, ['POSTGRES_PASSWORD_FILE=/run/secrets/db-password'])
    t.match(file.secrets['db-password'], { external: true, name: 'db-password' }, 'secrets by their names, to be created first')
    // That docker stack deploy makes the same services of such a file: test/recover/stack-file.ts.
    const before = await rds(['stack', 'export', STACK, '--at', '2020-01-01'])
    t.equal(before.exitCode, 1)
    t.match(before.stderr, /^rds: stack backup has no definitions saved at or before 2020-01-01T00:00:00\.000Z in the repositories /m)
  })

  t.test('rds stack restore brings a removed stack back whole: its network, config and services, its volume with its data on its node, withheld variables given again; rds rehearse proves it in a copy, then removes the copy', each(), async (t) => {
    const SHOP = 'rds-test-shop'
    const shop = `${SHOP}_shop`
    const files = join(dir, 'shop')
    await mkdir(files, { recursive: true })
    await writeFile(join(files, 'shop.conf'), 'currency = EUR\n')
    await writeFile(join(files, 'stack.yml'), [
      'version: "3.8"',
      'services:',
      '  shop:',
      '    image: debian:trixie-slim',
      '    command: [sh, -c, "[ -f /data/file ] || echo original > /data/file; exec sleep infinity"]',
      '    init: true',
      '    environment: [SHOP_PASSWORD=s3cret]',
      '    volumes: [files:/data]',
      '    configs: [{ source: settings, target: /etc/shop.conf }]',
      '    deploy:',
      '      labels: [rds.backup=true, rds.backup.run-at=0 0 1 1 *, rds.backup.rehearse.probe=grep -q precious /data/file]',
      '      placement: { constraints: [node.hostname == rds-sim2] }',
      '  front:',
      '    image: debian:trixie-slim',
      '    command: [sleep, infinity]',
      '    init: true',
      'volumes:',
      '  files:',
      'configs:',
      '  settings:',
      '    file: ./shop.conf',
      '',
    ].join('\n'))
    const stackDeploy = () => execa('docker', ['stack', 'deploy', '-c', 'stack.yml', SHOP], { cwd: files, env: nodeEnv('rds-sim1') })
    await stackDeploy()
    const container = () => containerOf('rds-sim2', shop)
    await sim('rds-sim2', ['exec', await container(), 'sh', '-c', 'echo precious > /data/file'])
    await waitFor('the shop in rds jobs', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === shop && job.node === 'rds-sim2') || undefined, 60)
    const backup = await rds(['backup', '--service', shop])
    t.equal(backup.exitCode, 0, backup.stderr)
    // Gone from this Swarm, with its volume: as on a new one.
    await sim('rds-sim1', ['stack', 'rm', SHOP])
    await waitFor('its containers gone', async () => (await sim('rds-sim2', ['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${SHOP}`])) === '' || undefined, 90)
    await waitFor('its volume removed', async () => (await execa('docker', ['volume', 'rm', `${SHOP}_files`], { env: nodeEnv('rds-sim2'), reject: false })).exitCode === 0 || undefined, 60)
    await waitFor('its network gone', async () => (await sim('rds-sim1', ['network', 'ls', '-q', '--filter', `name=${SHOP}_default`])) === '' || undefined, 60)

    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    const restore = (env: Record<string, string>) => execa('docker', ['exec', '-e', 'SHOP_PASSWORD', agent, 'rds', 'stack', 'restore', SHOP], { env: { ...nodeEnv('rds-sim1'), ...env }, reject: false })
    const refused = await restore({})
    t.equal(refused.exitCode, 2, refused.stderr)
    t.match(refused.stderr, /^rds: the values of SHOP_PASSWORD were not saved; give them to this command \(docker exec -e NAME \.\.\.\), then run it again\.$/m)
    const restored = await restore({ SHOP_PASSWORD: 's3cret' })
    t.equal(restored.exitCode, 0, restored.stderr)
    t.match(restored.stdout, /^ {2}rds-test-shop_shop: on rds-sim2, volumes from snapshot [0-9a-f]{8} of \S+$/m)
    t.match(restored.stdout, /^ {2}rds-test-shop_front: created \(no data of its own\)$/m)
    const back = await container()
    t.equal(await sim('rds-sim2', ['exec', back, 'cat', '/data/file']), 'precious', 'its data, in its volume on its node')
    t.equal(await sim('rds-sim2', ['exec', back, 'cat', '/etc/shop.conf']), 'currency = EUR', 'its config')
    t.match(await sim('rds-sim2', ['exec', back, 'printenv', 'SHOP_PASSWORD']), 's3cret', 'the withheld variable, given again')
    t.equal((await sim('rds-sim1', ['stack', 'services', '--format', '{{.Name}}', SHOP])).split('\n').sort().join(' '), `${SHOP}_front ${SHOP}_shop`, 'a stack docker stack knows')
    const again = await restore({ SHOP_PASSWORD: 's3cret' })
    t.equal(again.exitCode, 2)
    t.match(again.stderr, /^rds: stack rds-test-shop has 2 service\(s\) on this Swarm already/m)

    // Rehearsed (a rehearsal that passes: the example stack's, below): its data lost since, the copy
    // of the newest backup fails its probe, the rehearsal fails saying so, and the copy is removed.
    await waitFor('the restored shop in rds jobs', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === shop && job.node === 'rds-sim2') || undefined, 60)
    const rehearse = () => execa('docker', ['exec', '-e', 'SHOP_PASSWORD', agent, 'rds', 'rehearse', '--stack', SHOP], { env: { ...nodeEnv('rds-sim1'), SHOP_PASSWORD: 's3cret' }, reject: false })
    const left = async () => [
      await sim('rds-sim1', ['service', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=rehearsal-rds-test-shop']),
      await sim('rds-sim2', ['volume', 'ls', '-q', '--filter', 'name=rehearsal-rds-test-shop']),
      await sim('rds-sim1', ['network', 'ls', '-q', '--filter', 'name=rehearsal-rds-test-shop']),
    ].join('')
    await sim('rds-sim2', ['exec', await container(), 'sh', '-c', 'echo lost > /data/file'])
    t.equal((await rds(['backup', '--service', shop])).exitCode, 0)
    const failed = await rehearse()
    t.equal(failed.exitCode, 1, failed.stderr)
    t.match(failed.stdout, /^ {2}rds-test-shop_shop: FAILED: the probe \(rds\.backup\.rehearse\.probe\) of rehearsal-rds-test-shop_shop failed/m)
    const status = JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { lastRehearsal?: { ok: boolean; message: string } }> }
    t.match(status.jobs[shop]?.lastRehearsal, { ok: false, message: /^the rehearsal of stack rds-test-shop failed: / })
    t.equal(await sim('rds-sim2', ['exec', await container(), 'cat', '/data/file']), 'lost', 'the stack itself untouched')
    t.equal(await left(), '', 'the copy is gone: its services, volumes and network')
    await sim('rds-sim1', ['stack', 'rm', SHOP])
  })

  t.test("the README's quick start for the whole Swarm, as written: a backup now, rds jobs, the dump restored into a fresh Postgres", each(), async (t) => {
    const ran = await runReadme(await readmeShellBlocks('The whole Swarm').then((blocks) => blocks.slice(1)), dir)
    t.equal(ran.exitCode, 0, ran.all)
    t.match(ran.all, /controller: backup_db: starting on rds-sim2[\s\S]*backup_db: dump: \S+ \S+ saved as pg_dumpall\.sql[\s\S]*controller: backup_db: backed up on rds-sim2/)
    t.match(ran.all, /restore-dump: loading the dump of backup_db into db-restored on rds-sim1[\s\S]*restore-dump: \S+ \S+ loaded/)
    t.match(ran.all, /^backup_db: "0 0 1 1 \*" on rds-sim2, next run \S+; last run succeeded/m)
    t.match(ran.all, /^backup_web: "0 0 1 1 \*" on rds-sim3/m)
    const rows = await sim('rds-sim1', ['exec', await containerOf('rds-sim1', README_RESTORE_SERVICE), 'psql', '-U', 'postgres', '-At', '-c', 'SELECT count(*), sum(n) FROM rows_to_keep'])
    t.equal(rows.trim(), '1000|500500', 'every row came back into the fresh database')
  })

  t.test("the web service's snapshot restores to identical bytes, without the excluded file, as Restoring writes it", each(), async (t) => {
    const web = await containerOf('rds-sim3', `${STACK}_web`)
    const live = await sim('rds-sim3', ['exec', web, 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html', '/srv/uploads'])
    const restored = await runReadme(await readmeShellBlocks('In the whole Swarm'), dir)
    t.equal(restored.exitCode, 0, restored.all)
    t.match(restored.all, /^drwx\S+ +0\/0 .* \/volumes\/site\/d6$[\s\S]*^site\nuploads$/m, 'rds ls lists the site\'s folders; both volumes are restored under /volumes')
    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    const back = await sim('rds-sim1', ['exec', agent, 'sh', '-c', CHECKSUMS, 'checksums', '/tmp/restored-web/volumes/site', '/tmp/restored-web/volumes/uploads'])
    t.equal(back, live.split('\n').filter((line) => !line.endsWith('skip.tmp')).join('\n'))
    t.match(back, /big\.bin/)
    t.equal(back.split('\n').length, 202)
  })

  t.test("the web console, turned on as docs/console.md writes it, in a real browser: a wrong password refused, an operator backs up a service now and watches it finish, sees the coverage, browses its newest snapshot, downloads a file whole, restores the service in place and rehearses the example stack (its copy runs, its probe finds every row, the copy is removed); a call without a token, and a read-only token's backup, refused; no answer holds the repository password", each(), async (t) => {
    const [makeUsers, turnOn] = await readmeShellBlocks('Turning it on')
    const passwords = { ALICE_PASSWORD: 'alice has a long password', BOB_PASSWORD: 'bob reads and never writes' }
    // What a run of this test cut short may have left on a Swarm kept between runs (not in CI's, which is new).
    await sim('rds-sim1', ['secret', 'rm', 'console-users']).catch(() => undefined)
    const made = await execa('bash', ['-e', '-o', 'pipefail', '-c', makeUsers!], { cwd: dir, env: { ...nodeEnv('rds-sim1'), ...passwords }, reject: false, all: true })
    t.equal(made.exitCode, 0, made.all)
    const readToken = (await readFile(join(dir, 'nightly.token'), 'utf8')).trim()
    // Published on the manager for the browser here, in the same update (a controller restart).
    const on = await execa('bash', ['-e', '-c', turnOn!.replace(/ backup_agent$/, ' --publish-add mode=host,target=8080,published=8088 backup_agent')], { cwd: dir, env: nodeEnv('rds-sim1'), reject: false, all: true })
    t.equal(on.exitCode, 0, on.all)
    t.teardown(async () => {
      // Each step asked again until it is done: the controller renews its lease by updating this same
      // service (an update may meet it: "update out of sequence"), and a secret stays in use until
      // the task that had it is gone. The next tests speak to the one controller that is left.
      const done = (step: Promise<unknown>) => step.then(() => true, () => undefined)
      await waitFor('the console turned off', () => done(sim('rds-sim1', ['service', 'update', '--detach=false', '--env-rm', 'CONSOLE_PORT', '--env-rm', 'CONSOLE_USERS_FILE', '--secret-rm', 'console-users', '--publish-rm', 'published=8088,target=8080,mode=host', `${STACK}_agent`])), 180)
      await waitFor('the console-users secret removed', () => done(sim('rds-sim1', ['secret', 'rm', 'console-users'])), 60)
      await waitFor('one controller running', async () => (await sim('rds-sim1', ['ps', '-q', '-f', `label=com.docker.swarm.service.name=${STACK}_agent`, '-f', 'status=running'])).split('\n').filter(Boolean).length === 1 || undefined, 60)
    })
    const base = `http://${await nodeAddress('rds-sim1')}:8088`
    await waitFor('the console to answer', async () => (await fetch(`${base}/api/session`).catch(() => undefined))?.status === 401 || undefined, 120)
    t.equal((await fetch(`${base}/api/jobs`)).status, 401, 'an API call without a token')
    t.equal((await fetch(`${base}/api/jobs/${STACK}_web/backup`, { method: 'POST', headers: { authorization: `Bearer ${readToken}` } })).status, 403, "a read-only token's backup")
    t.equal((await fetch(`${base}/api/jobs`, { headers: { authorization: `Bearer ${readToken}` } })).status, 200, 'a read-only token reads')
    const bob = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bob', password: passwords.BOB_PASSWORD }) })
    const { csrfToken } = (await bob.json()) as { csrfToken: string }
    const restoreByBob = await fetch(`${base}/api/jobs/${STACK}_web/restore`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: bob.headers.get('set-cookie')!.split(';')[0]!, 'x-csrf-token': csrfToken },
      body: JSON.stringify({ snapshot: 'latest', confirm: `${STACK}_web` }),
    })
    t.equal(restoreByBob.status, 403, "a read-only user's restore")

    // A file the newest snapshot will hold, and its checksum in the live volume.
    const web = await containerOf('rds-sim3', `${STACK}_web`)
    await sim('rds-sim3', ['exec', web, 'sh', '-c', 'mkdir -p /usr/share/nginx/html/console && head -c 250000 /dev/urandom > /usr/share/nginx/html/console/photo.bin'])
    const live = (await sim('rds-sim3', ['exec', web, 'sha256sum', '/usr/share/nginx/html/console/photo.bin'])).split(' ')[0]

    const browser = await launchBrowser(t)
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } })
    const page = await context.newPage()
    const watched = watchPage(page)
    await page.goto(base)
    await page.getByLabel('Name').fill('alice')
    await page.getByLabel('Password').fill('not her password')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('alert').getByText('wrong name or password.').waitFor()
    await page.getByLabel('Password').fill(passwords.ALICE_PASSWORD)
    await page.getByRole('button', { name: 'Log in' }).click()
    const row = (job: string) => page.locator(`tr[data-job="${job}"]`)
    await row(`${STACK}_db`).waitFor()
    t.match(await row(`${STACK}_web`).textContent(), new RegExp(`${STACK}_web.*rds-sim3`), "the example stack's services, on their nodes")
    const before = await row(`${STACK}_web`).locator('td').nth(2).textContent()
    await page.getByRole('button', { name: `Back up now: ${STACK}_web` }).click()
    // The page follows the run by itself, with no reload, until it has a new last good backup.
    const after = await waitFor('the run to end on the page', async () => {
      const [state, last] = await Promise.all([row(`${STACK}_web`).locator('td').nth(0).textContent(), row(`${STACK}_web`).locator('td').nth(2).textContent()])
      return state === 'OK' && last !== before ? last : undefined
    }, 180)
    t.not(after, before, 'a new last good backup')
    t.match(after, /\d+ s ago/)
    // axe-core's WCAG rules on the pages as the real controller fills them.
    const problems = await accessibilityProblems(page)
    if (process.env.RDS_SCREENSHOTS) await page.screenshot({ path: join(process.env.RDS_SCREENSHOTS, 'console-overview.png') })

    await page.getByRole('link', { name: 'Coverage' }).click()
    await page.getByRole('status').getByText(/need a look|is covered/).waitFor({ timeout: 120_000 })
    const site = page.locator('tbody tr').filter({ has: page.getByRole('rowheader', { name: `${STACK}_site`, exact: true }) })
    t.match(await site.textContent(), new RegExp(`^rds-sim3${STACK}_sitecovered`), "the web service's volume, covered on its node")
    problems.push(...(await accessibilityProblems(page)))
    if (process.env.RDS_SCREENSHOTS) await page.screenshot({ path: join(process.env.RDS_SCREENSHOTS, 'console-coverage.png'), fullPage: true })

    await page.getByRole('link', { name: 'Overview' }).click()
    await page.getByRole('link', { name: `${STACK}_web` }).click()
    const newestRun = page.getByRole('table', { name: /^Runs, newest first/ }).locator('tbody tr').first()
    await newestRun.waitFor()
    t.match(await newestRun.textContent(), /^backup\d+ s ago.*\d s.*(B|KiB|MiB)succeeded: /, "the run just made heads the job's runs, with its duration and what it added")
    await newestRun.getByText(/^Log \(\d+ lines\)$/).click()
    await newestRun.locator('pre').getByText(/restic|snapshot/).first().waitFor()
    problems.push(...(await accessibilityProblems(page)))
    t.same(problems, [], 'the overview, the coverage and a job\'s page break no rule of WCAG 2.1 A or AA that axe-core checks')
    // The newest snapshot of the volumes (the job's snapshots also hold its stack's definitions).
    await page.locator('tbody tr').filter({ has: page.getByRole('cell', { name: '/volumes', exact: true }) }).first().getByRole('link', { name: /^Browse snapshot / }).click()
    await page.getByRole('link', { name: 'site/' }).click()
    await page.getByRole('link', { name: 'console/' }).click()
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download photo.bin' }).click()])
    const downloaded = createHash('sha256').update(await readFile((await download.path())!)).digest('hex')
    t.equal(downloaded, live, "the downloaded file's bytes are the live file's")

    // The file lost from the live volume, and the service restored in place from the console.
    await sim('rds-sim3', ['exec', web, 'rm', '-r', '/usr/share/nginx/html/console'])
    await page.getByRole('link', { name: `${STACK}_web` }).click()
    const newest = page.locator('tbody tr').filter({ has: page.getByRole('cell', { name: '/volumes', exact: true }) }).first()
    await newest.getByRole('button', { name: /^Restore from / }).click()
    await page.getByLabel(`Type ${STACK}_web to confirm`).fill(`${STACK}_web`)
    await page.getByRole('button', { name: 'Restore in place', exact: true }).click()
    await page.getByRole('status').getByText(/^Restore succeeded: service backup_web restored in place/).waitFor({ timeout: 300_000 })
    const restoredWeb = await containerOf('rds-sim3', `${STACK}_web`)
    t.equal((await sim('rds-sim3', ['exec', restoredWeb, 'sha256sum', '/usr/share/nginx/html/console/photo.bin'])).split(' ')[0], live, 'the file is back in the live volume')
    // The volume as the tests after this one know it.
    await sim('rds-sim3', ['exec', restoredWeb, 'rm', '-r', '/usr/share/nginx/html/console'])

    // The example stack rehearsed from the console: its database and web service come back in a copy, its probe finds every row, and the copy is removed.
    await page.getByRole('button', { name: `Rehearse stack ${STACK} now` }).click()
    const rehearsed = (await page.getByRole('status').getByText(/^Rehearsal (succeeded|failed): /).textContent({ timeout: 600_000 }))!
    t.match(rehearsed, /^Rehearsal succeeded: the rehearsal of stack backup passed: /)
    t.match(rehearsed, /backup_agent: left out of the copy \(it mounts the Docker socket/)
    t.match(rehearsed, /backup_db: its probe passed in rehearsal-backup_db/)
    const status = JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { lastRehearsal?: { ok: boolean; message: string } }> }
    t.match([status.jobs[`${STACK}_db`]?.lastRehearsal, status.jobs[`${STACK}_web`]?.lastRehearsal], [{ ok: true, message: /^a copy of stack backup from its backups of \S+ ran, its probes passed$/ }, { ok: true }], 'recorded for each labelled service')
    const left = await Promise.all([
      sim('rds-sim1', ['service', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=rehearsal-backup']),
      ...(['rds-sim1', 'rds-sim2', 'rds-sim3'] as const).map((node) => sim(node, ['volume', 'ls', '-q', '--filter', 'name=rehearsal-backup'])),
    ])
    t.equal(left.join(''), '', 'nothing of the copy left, on any node')

    await watched.settled()
    const password = (await readFile(join(dir, 'restic-secrets', 'restic-repo-password'), 'utf8')).trim()
    t.ok(watched.answers.length > 10, `${watched.answers.length} answers`)
    t.notOk(watched.answers.some((answer) => answer.includes(password)), 'no answer the browser got holds the repository password')
    t.same(watched.errors.filter((error) => !/status of 401/.test(error)), [], 'no script error or refused resource')
    t.match(await controllerLog(), /console: alice \(operator\): backup now backup_web: started[\s\S]*console: alice \(operator\): restore in place backup_web from snapshot \w+: succeeded[\s\S]*console: alice \(operator\): rehearsal stack backup: succeeded/, 'the actions are in the log')
  })

  t.test('a job gets only what it needs: the key, the known hosts and the password, and no Docker socket without a hook, dump or pause', each(), async (t) => {
    const run = rds(['backup', '--service', `${STACK}_web`])
    const spec = await waitFor('a job of backup_web, inspected while it runs', async () => {
      const [id] = (await sim('rds-sim1', ['service', 'ls', '-q', '--filter', `label=rds.job=${STACK}_web`])).split('\n').filter(Boolean)
      if (!id) return undefined
      return JSON.parse(await sim('rds-sim1', ['service', 'inspect', id]))[0].Spec.TaskTemplate.ContainerSpec as { Secrets?: { SecretName: string }[]; Mounts: { Target: string }[] }
    }, 60)
    t.same((spec.Secrets ?? []).map((secret) => secret.SecretName).sort(), ['restic-repo-password', 'restic-ssh-known-hosts', 'restic-ssh-privkey'])
    t.notOk(spec.Mounts.some((mount) => mount.Target === '/var/run/docker.sock'), 'no Docker socket')
    t.equal((await run).exitCode, 0)
  })

  t.test('rds.backup.run-at changed with docker service update takes effect at once, with no restart', each(), async (t) => {
    const agentBefore = await containerOf('rds-sim1', `${STACK}_agent`)
    const started = Date.now()
    t.teardown(() => setSchedule(`${STACK}_web`, RARE))
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.run-at=0 3 * * *', `${STACK}_web`])
    await waitFor('the new schedule in the log', async () => /backup_web: schedule "0 0 1 1 \*" -> "0 3 \* \* \*"/.test(await controllerLog()) || undefined, 30)
    t.comment(`label change to new schedule: ${Date.now() - started} ms (docker service update included)`)
    // The Docker CLI's update reorders the service's mounts, which restarts its task: its node is
    // known again once the new task runs.
    const jobs = await waitFor('the new schedule and the node in rds jobs', async () => {
      const listed = JSON.parse((await rds(['jobs', '--json'])).stdout) as { name: string; schedule?: string; node?: string }[]
      return listed.find((job) => job.name === 'backup_web' && job.node === 'rds-sim3') ? listed : undefined
    }, 30)
    t.match(jobs, [{ name: 'backup_db' }, { name: 'backup_web', schedule: '0 3 * * *', node: 'rds-sim3' }])
    t.equal(await containerOf('rds-sim1', `${STACK}_agent`), agentBefore, 'the controller was not restarted')
  })

  t.test('rds restore --to-volume restores on the node that has the volume, at its root; a volume in use, or on no node, is refused', each(), async (t) => {
    const live = await sim('rds-sim3', ['exec', await containerOf('rds-sim3', `${STACK}_web`), 'sh', '-c', CHECKSUMS, 'checksums', '/srv/uploads'])
    const nowhere = await rds(['restore', '--host', `${STACK}_web`, 'latest:/volumes/uploads', '--to-volume', 'rds-test-uploads-copy'])
    t.equal(nowhere.exitCode, 2, nowhere.stderr)
    t.match(nowhere.stderr, /^rds: no node has a volume rds-test-uploads-copy; name the node to create it on with --to-node\.$/m)
    const inUse = await rds(['restore', '--host', `${STACK}_web`, 'latest:/volumes/uploads', '--to-volume', `${STACK}_uploads`, '--force'])
    t.equal(inUse.exitCode, 2, inUse.stderr)
    t.match(inUse.stderr, new RegExp(`^rds: volume ${STACK}_uploads on rds-sim3 is in use by \\S+; restore service ${STACK}_web in place with rds restore --service ${STACK}_web, or scale it to 0 first\\.$`, 'm'))
    const restored = await rds(['restore', '--host', `${STACK}_web`, 'latest:/volumes/uploads', '--to-volume', 'rds-test-uploads-copy', '--to-node', 'rds-sim3'])
    t.equal(restored.exitCode, 0, restored.stderr)
    t.match(restored.stderr, /restore: snapshot [0-9a-f]{8}:\/volumes\/uploads of backup_web into volume rds-test-uploads-copy on rds-sim3 \(created there\)/)
    const copy = await sim('rds-sim3', ['run', '--rm', '-v', 'rds-test-uploads-copy:/copy', 'debian:trixie-slim', 'sh', '-c', CHECKSUMS, 'checksums', '/copy'])
    t.equal(copy, live.split('\n').filter((line) => !line.endsWith('skip.tmp')).join('\n'), "the volume's files at its root, byte for byte")
    t.equal(await sim('rds-sim1', ['volume', 'ls', '-q', '--filter', 'name=rds-test-uploads-copy']), '', 'nothing was created on the manager')
    // Nothing holds it: the restore job's container went with its service.
    await waitFor('the restore job\'s container gone', async () => (await sim('rds-sim3', ['ps', '-aq', '--filter', 'volume=rds-test-uploads-copy'])) === '' || undefined, 30)
    await sim('rds-sim3', ['volume', 'rm', 'rds-test-uploads-copy'])
  })

  t.test("rds snapshots, ls and restore --host find a service's snapshots in the repository its label chose", each(), async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-ownrepo', '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', 'rds.backup.repo=ownrepo',
      '--mount', 'type=volume,src=rds-test-ownrepo,dst=/data', '--init', 'debian:trixie-slim', 'sh', '-c', 'echo mine > /data/file; exec sleep infinity',
    ])
    // No constraint: Swarm places it on any node.
    const node = await waitFor('the service in rds jobs', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).find((job: { name: string; node?: string }) => job.name === 'rds-test-ownrepo' && job.node)?.node as SimNode | undefined, 60)
    const backup = await rds(['backup', '--service', 'rds-test-ownrepo'])
    t.equal(backup.exitCode, 0, backup.stderr)
    t.equal((await snapshotsOf('rds-test-ownrepo')).length, 1, 'rds snapshots --host finds it in ownrepo')
    const listed = await rds(['ls', '--host', 'rds-test-ownrepo', '--path', '/volumes/rds-test-ownrepo/file'])
    t.equal(listed.exitCode, 0, listed.stderr)
    const exported = await rds(['export', '--host', 'rds-test-ownrepo', '--path', '/volumes/rds-test-ownrepo/file'])
    t.equal(exported.stdout, 'mine')
    // Restored in place, it comes back on the node that holds its restored volume, not wherever Swarm would place it.
    const container = async () => containerOf(node, 'rds-test-ownrepo')
    await sim(node, ['exec', await container(), 'sh', '-c', 'echo damaged > /data/file'])
    const restored = await rds(['restore', '--service', 'rds-test-ownrepo'])
    t.equal(restored.exitCode, 0, restored.stderr)
    t.match(restored.stderr, new RegExp(`restore: rds-test-ownrepo is now placed on node ${node} \\(node\\.id == \\w+\\), where its data is`))
    t.equal(await sim(node, ['exec', await container(), 'cat', '/data/file']), 'mine', 'its file back, on the same node')
    const constraints = JSON.parse(await sim('rds-sim1', ['service', 'inspect', 'rds-test-ownrepo']))[0].Spec.TaskTemplate.Placement.Constraints as string[]
    t.match(constraints, [/^node\.id == \w+$/], 'pinned to its node')
    await sim('rds-sim1', ['service', 'rm', 'rds-test-ownrepo'])
  })

  t.test('named repositories: a service labelled into an S3 repository and one into a REST repository are backed up there and restored from there, the first copied off-site into the second and restored from the copy, with no credential in a job\'s spec or the log; an unlisted name is a label error', each(), async (t) => {
    // The servers run on this machine, at its address on the nodes' network, which the jobs reach.
    const address = (await execa('docker', ['network', 'inspect', 'rds-swarm', '--format', '{{(index .IPAM.Config 0).Gateway}}'])).stdout.trim()
    const { s3, rest } = await startBackends(t, address, 'swarm')
    const passwords = { s3: `s3-${Math.random().toString(36).slice(2)}`, rest: `rest-${Math.random().toString(36).slice(2)}` }
    const repositories = [
      '# The test\'s repositories: an S3 bucket and a REST server.',
      '[s3]', `url = ${s3.url}`, 'password-file = /run/secrets/rds-test-s3-password', 'RESTIC_CACERT = /run/secrets/rds-test-s3-cacert', 'option = s3.connections=2',
      ...Object.entries(s3.env).filter(([name]) => name !== 'RESTIC_CACERT').map(([name, value]) => `${name} = ${value}`),
      '', '[rest]', `url = ${rest.url}`, 'password-file = /run/secrets/rds-test-rest-password', ...Object.entries(rest.env).map(([name, value]) => `${name} = ${value}`),
    ].join('\n')
    const secrets = { 'rds-test-repositories': repositories, 'rds-test-s3-password': passwords.s3, 'rds-test-s3-cacert': await readFile(s3.env.RESTIC_CACERT!, 'utf8'), 'rds-test-rest-password': passwords.rest }
    for (const [name, content] of Object.entries(secrets)) await sim('rds-sim1', ['secret', 'create', name, '-'], content)
    const agent = `${STACK}_agent`
    await sim('rds-sim1', ['service', 'update', '--detach=false', ...Object.keys(secrets).flatMap((name) => ['--secret-add', name]), '--env-add', 'REPOSITORIES_FILE=/run/secrets/rds-test-repositories', agent])
    t.teardown(async () => {
      await sim('rds-sim1', ['service', 'rm', 'rds-test-s3', 'rds-test-rest', 'rds-test-nowhere']).catch(() => undefined)
      // As the test does at its end (a failed test leaves the controller with the file).
      await sim('rds-sim1', ['service', 'update', '--detach=false', ...Object.keys(secrets).flatMap((name) => ['--secret-rm', name]), '--env-rm', 'REPOSITORIES_FILE', agent]).catch(() => undefined)
      for (const name of Object.keys(secrets)) await sim('rds-sim1', ['secret', 'rm', name]).catch(() => undefined)
    })
    const service = (name: string, repo: string, more: string[] = []) => sim('rds-sim1', [
      'service', 'create', '--detach', '--name', name, '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', `rds.backup.repo=${repo}`, ...more,
      '--mount', `type=volume,src=${name},dst=/data`, '--init', 'debian:trixie-slim', 'sh', '-c', '[ -e /data/data.bin ] || head -c 300000 /dev/urandom > /data/data.bin; exec sleep infinity',
    ])
    // Copied off-site: S3 into REST (with the keep-last of the copy's retention there).
    await service('rds-test-s3', 's3', ['--label', 'rds.backup.copy-to=rest', '--label', 'rds.backup.keep-last=5'])
    await service('rds-test-rest', 'rest')
    await service('rds-test-nowhere', 'nowhere')
    type Row = { name: string; node?: string; error?: string }
    const rows = await waitFor('the three services in rds jobs', async () => {
      const listed = JSON.parse((await rds(['jobs', '--json'])).stdout || '[]') as Row[]
      const ours = ['rds-test-s3', 'rds-test-rest', 'rds-test-nowhere'].map((name) => listed.find((row) => row.name === name))
      return ours.every((row) => row?.node || row?.error) ? ours : undefined
    }, 90).catch(async (error: Error) => {
      throw new Error(`${error.message}; the controller's log ends:\n${(await controllerLog()).split('\n').slice(-15).join('\n')}`)
    })
    t.match(rows[2]!.error, /rds\.backup\.repo is "nowhere", which REPOSITORIES_FILE does not list \(REPOSITORIES_FILE lists s3, rest\); write one of its names/, 'an unlisted name is a label error')

    const checksum = async (name: string, node: SimNode) => (await sim(node, ['exec', await containerOf(node, name), 'sha256sum', '/data/data.bin'])).split(' ')[0]
    const expected = { s3: await checksum('rds-test-s3', rows[0]!.node as SimNode), rest: await checksum('rds-test-rest', rows[1]!.node as SimNode) }
    const run = rds(['backup', '--service', 'rds-test-s3'])
    const spec = await waitFor('a job of rds-test-s3, inspected while it runs', async () => {
      const [id] = (await sim('rds-sim1', ['service', 'ls', '-q', '--filter', 'label=rds.job=rds-test-s3'])).split('\n').filter(Boolean)
      return id ? (JSON.parse(await sim('rds-sim1', ['service', 'inspect', id]))[0].Spec as { TaskTemplate: { ContainerSpec: { Env: string[]; Secrets?: { SecretName: string }[] } } }) : undefined
    }, 60)
    const backedUp = await run
    t.equal(backedUp.exitCode, 0, backedUp.stderr)
    t.match(backedUp.stderr, /controller: rds-test-s3: copied into rest: the newest snapshot copied is [0-9a-f]{8} of /, 'copied into rest after the run')
    t.match(backedUp.stderr, /controller: rds-test-s3: retention in rest keep-last 5/, 'with its retention there')
    const container = spec.TaskTemplate.ContainerSpec
    t.match((container.Secrets ?? []).map((secret) => secret.SecretName).sort(), [/^rds-repository-s3-[0-9a-f]{12}$/, 'rds-test-s3-cacert', 'rds-test-s3-password'], "its repository's section and files, and neither the server's key nor another repository's")
    t.ok(container.Env.includes('REPOSITORY_NAME=s3') && !container.Env.some((variable) => variable.startsWith('REPO_PATH=')), 'the job writes to s3 by its name')
    const restRun = await rds(['backup', '--service', 'rds-test-rest'])
    t.equal(restRun.exitCode, 0, restRun.stderr)

    // Read back on this machine with restic itself, from each backend: the same bytes (the volumes'
    // snapshot, by its path: the newest of the host holds the saved service definition).
    const passwordFile = join(dir, 'named-password')
    const fromBackend = async (backend: Backend, password: string, host: string) => {
      await writeFile(passwordFile, password)
      const target = join(dir, `restored-${host}`)
      const env = { ...backend.env, RESTIC_REPOSITORY: backend.url, RESTIC_PASSWORD_FILE: passwordFile }
      const restoredHere = await execa('restic', ['--no-cache', 'restore', '--host', host, '--path', '/volumes', 'latest', '--target', target], { env, reject: false })
      t.equal(restoredHere.exitCode, 0, `restic restore from ${backend.url}: ${restoredHere.stderr}`)
      const found = (await readdir(target, { recursive: true })).find((path) => path.endsWith('data.bin'))
      return found === undefined ? 'no data.bin' : createHash('sha256').update(await readFile(join(target, found))).digest('hex')
    }
    t.equal(await fromBackend(s3, passwords.s3, 'rds-test-s3'), expected.s3, 'the S3 repository holds the volume, byte for byte')
    t.equal(await fromBackend(rest, passwords.rest, 'rds-test-rest'), expected.rest, 'the REST repository holds the volume, byte for byte')
    t.equal(await fromBackend(rest, passwords.rest, 'rds-test-s3'), expected.s3, "the off-site copy in REST holds the S3 service's volume, byte for byte")
    const status = JSON.parse((await rds(['status', '--json'])).stdout).jobs['rds-test-s3'] as { lastSnapshot: { id: string }; copies?: Record<string, { lastAttempt: { ok: boolean }; newest?: { id: string } }> }
    t.match(status.copies?.rest, { lastAttempt: { ok: true }, newest: { id: status.lastSnapshot.id } }, 'rds status: its newest snapshot is in the copy')
    t.match((await rds(['status'])).stdout, /^rds-test-s3: OK; .*; copy into rest: newest snapshot copied [0-9a-f]{8} of \S+ \([^)]+ old\)/m)
    const coverage = await rds(['coverage', '--json'])
    t.ok(coverage.stdout.startsWith('['), `rds coverage --json: ${coverage.stderr}`)
    const covered = (JSON.parse(coverage.stdout || '[]') as { job?: string; copies?: unknown }[]).find((row) => row.job === 'rds-test-s3')
    t.match(covered?.copies, [{ destination: 'rest', newest: /^\d{4}-/ }], 'rds coverage: its volume has a copy in rest, as of its newest snapshot there')
    t.equal((await snapshotsOf('rds-test-s3')).length, 1, 'rds snapshots --host finds it in s3')

    // Restored in place from S3: a restore job reaches the repository the same way.
    const node = rows[0]!.node as SimNode
    await sim(node, ['exec', await containerOf(node, 'rds-test-s3'), 'sh', '-c', 'echo damaged > /data/data.bin'])
    const restored = await rds(['restore', '--service', 'rds-test-s3'])
    t.equal(restored.exitCode, 0, restored.stderr)
    t.equal(await checksum('rds-test-s3', node), expected.s3, 'its data back from S3')

    const doctor = await rds(['doctor'])
    t.match(doctor.stdout, /^ok\s+repository s3: /m, doctor.stdout)
    t.match(doctor.stdout, /^ok\s+repository rest: /m)
    const agentSpec = await sim('rds-sim1', ['service', 'inspect', agent])
    const log = await controllerLog()
    // Without the file, the controller removes the secrets it made of its sections.
    await sim('rds-sim1', ['service', 'update', '--detach=false', ...Object.keys(secrets).flatMap((name) => ['--secret-rm', name]), '--env-rm', 'REPOSITORIES_FILE', agent])
    await waitFor("the sections' secrets removed", async () => (await sim('rds-sim1', ['secret', 'ls', '-q', '--filter', 'label=rds.repository'])) === '' || undefined, 120)
    for (const [what, text] of Object.entries({ 'the controller\'s log': log, "the agent's spec": agentSpec, "the job's spec": JSON.stringify(spec), 'rds doctor': doctor.stdout + doctor.stderr, 'the runs\' output': backedUp.stderr + restRun.stderr + restored.stderr })) {
      t.notOk([rest.secret, passwords.s3, passwords.rest].some((secret) => text.includes(secret)), `no password or credential in ${what}`)
    }
  })

  t.test('rds restore --service: one deleted file back into the live volume; a failed post-hook rolls back byte for byte; a whole restore at the root, what the snapshot lacks deleted', each(), async (t) => {
    const web = `${STACK}_web`
    const webContainer = async () => containerOf('rds-sim3', web)
    const volumes = async () => sim('rds-sim3', ['exec', await webContainer(), 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html', '/srv/uploads'])
    const original = await volumes()
    const snapshot = (await snapshotsOf(web)).at(-1)!.id
    // One file deleted by mistake: back, with the service never stopped.
    const before = await webContainer()
    await sim('rds-sim3', ['exec', before, 'rm', '/usr/share/nginx/html/d1/f1'])
    // By ID, as one would after reading rds snapshots: a backup since may have saved the volume without it.
    const one = await rds(['restore', '--service', web, snapshot, '--path', '/volumes/site/d1/f1'])
    t.equal(one.exitCode, 0, one.stderr)
    t.equal(await volumes(), original, 'the file is back, and nothing else changed')
    t.equal(await webContainer(), before, 'the service was not stopped')
    // Changed since the snapshot; a restore whose post-hook fails puts this state back.
    await sim('rds-sim3', ['exec', before, 'sh', '-c', 'echo new > /usr/share/nginx/html/added-later; rm /usr/share/nginx/html/d2/f2; echo changed > /srv/uploads/big.bin'])
    const changed = await volumes()
    await controllerSees('the restore post-hook label', HOOK_ADDED, () => sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.restore.post-hook=exit 7', web]))
    // docker service update may replace the task (Docker 20.10 does, here).
    await runningOnSim3()
    // Other tests (the console's) may have restored it before, each with a safety snapshot of its own.
    const safetyOf = async () => (await snapshotsOf(web)).filter((found) => found.tags?.includes('rds-safety'))
    const safetyBefore = (await safetyOf()).length
    const failed = await rds(['restore', '--service', web, snapshot])
    t.equal(failed.exitCode, 1, failed.stderr)
    t.match(failed.stderr, /restore: what backup_web's volumes hold now is kept in safety snapshot [0-9a-f]{8}/)
    t.match(failed.stderr, /rds: the restore of backup_web failed \(the restore post-hook \(rds\.backup\.restore\.post-hook\) of backup_web failed \(exit code 1; its log is above\)\); it was rolled back to what it held before \(safety snapshot [0-9a-f]{8}\), and runs\./)
    t.equal(await volumes(), changed, 'rolled back byte for byte')
    const spec = JSON.parse(await sim('rds-sim1', ['service', 'inspect', web]))[0].Spec
    t.equal(spec.Mode.Replicated.Replicas, 1, 'the service runs its one replica')
    t.notOk(spec.Labels['rds.scaled-from'], 'and is not left marked as scaled down')
    t.equal((await safetyOf()).length, safetyBefore + 1, 'one safety snapshot of the volumes')
    await controllerSees('the label gone', HOOK_REMOVED, () => sim('rds-sim1', ['service', 'update', '--detach', '--label-rm', 'rds.backup.restore.post-hook', web]))
    await runningOnSim3()
    const whole = await rds(['restore', '--service', web, snapshot])
    t.equal(whole.exitCode, 0, whole.stderr)
    t.match(whole.stderr, /restore: backup_web is back on rds-sim3: volumes site, uploads from snapshot [0-9a-f]{8}/)
    t.equal(await volumes(), original, 'the snapshot at the volumes\' roots: the added file deleted, the others back, the excluded skip.tmp kept')
    const latest = await rds(['ls', '--host', web, '--json'])
    t.notOk((JSON.parse(latest.stdout) as { path: string }[]).some((entry) => entry.path.endsWith('added-later')), '"latest" is never a safety snapshot')
  })

  t.test('an in-place restore cut off while it rewrites the volumes leaves the service at 0 and marked, never backed up or started on half its data, until a restore of it finishes', each(), async (t) => {
    const web = `${STACK}_web`
    const snapshot = (await snapshotsOf(web)).filter((found) => !found.tags?.includes('rds-safety')).at(-1)!.id
    const original = await sim('rds-sim3', ['exec', await containerOf('rds-sim3', web), 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html', '/srv/uploads'])
    const restoring = rds(['restore', '--service', web, snapshot])
    const labels = async () => JSON.parse(await sim('rds-sim1', ['service', 'inspect', web]))[0].Spec.Labels as Record<string, string>
    const label = await waitFor('the restore to mark the service', async () => (await labels())['rds.restoring'], 120)
    t.match(label, /^volumes from [0-9a-f]{8}, safety snapshot [0-9a-f]{8} on node \S+$/)
    // SIGTERM to the restore (the image has no pkill); the bracket keeps this shell from matching itself.
    const killRestore = 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q " restore --servic[e] " && kill -TERM ${p#/proc/}; done; true'
    await sim('rds-sim1', ['exec', await containerOf('rds-sim1', `${STACK}_agent`), 'sh', '-c', killRestore])
    const cut = await restoring
    t.not(cut.exitCode, 0, cut.stderr)
    t.match(cut.stderr, /service backup_web is being restored in place, or its restore was cut off \(rds\.restoring=this restore\); it is neither backed up nor scaled back until a restore of it finishes/)
    const backup = await rds(['backup', '--service', web])
    t.equal(backup.exitCode, 1, backup.stderr)
    t.match(backup.stderr, /controller: backup_web: service backup_web is being restored in place, or its restore was cut off \(rds\.restoring=volumes from/)
    const left = JSON.parse(await sim('rds-sim1', ['service', 'inspect', web]))[0].Spec
    t.equal(left.Mode.Replicated.Replicas, 0, 'left at 0')
    t.ok(left.Labels['rds.restoring'], 'and marked')
    // Moved elsewhere from there, and failing: its old volumes are half restored, so it is not moved back onto them and started.
    await controllerSees('the restore post-hook label', HOOK_ADDED, () => sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.restore.post-hook=exit 7', web]))
    const moveFailed = await rds(['restore', '--service', web, snapshot, '--to-node', 'rds-sim2'])
    t.equal(moveFailed.exitCode, 1, moveFailed.stderr)
    t.match(moveFailed.stderr, /rds: the restore of backup_web onto rds-sim2 failed \(.*post-hook.*\); a restore of it had been cut off before, leaving its volumes on \S+ half restored, so it is left at 0 and marked \(rds\.restoring\)/)
    const stillLeft = JSON.parse(await sim('rds-sim1', ['service', 'inspect', web]))[0].Spec
    t.equal(stillLeft.Mode.Replicated.Replicas, 0, 'still at 0')
    t.equal(stillLeft.Labels['rds.restoring'], left.Labels['rds.restoring'], 'and marked as the cut-off restore left it')
    t.same(stillLeft.TaskTemplate.Placement.Constraints, left.TaskTemplate.Placement.Constraints, 'its placement as it was')
    await controllerSees('the label gone', HOOK_REMOVED, () => sim('rds-sim1', ['service', 'update', '--detach', '--label-rm', 'rds.backup.restore.post-hook', web]))
    const again = await rds(['restore', '--service', web, snapshot])
    t.equal(again.exitCode, 0, again.stderr)
    t.notOk((await labels())['rds.restoring'], 'the mark is gone once a restore finished')
    t.equal(await sim('rds-sim3', ['exec', await containerOf('rds-sim3', web), 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html', '/srv/uploads']), original, 'the whole snapshot, and the service runs')
  })

  t.test('rds restore --service --to-node restores the service onto another node and moves it there; and back', each(), async (t) => {
    const web = `${STACK}_web`
    const checksums = async (node: 'rds-sim2' | 'rds-sim3') => sim(node, ['exec', await containerOf(node, web), 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html', '/srv/uploads'])
    const original = await checksums('rds-sim3')
    const moved = await rds(['restore', '--service', web, '--to-node', 'rds-sim2'])
    t.equal(moved.exitCode, 0, moved.stderr)
    t.match(moved.stderr, /restore: backup_web placed on rds-sim2/)
    t.equal(await checksums('rds-sim2'), original.split('\n').filter((line) => !line.endsWith('skip.tmp')).join('\n'), 'on rds-sim2, its snapshot (the excluded file was never in it)')
    const constraints = JSON.parse(await sim('rds-sim1', ['service', 'inspect', web]))[0].Spec.TaskTemplate.Placement.Constraints as string[]
    t.same(constraints.filter((constraint) => /node\.(hostname|id)/.test(constraint)).length, 1, 'one constraint names its node')
    const back = await rds(['restore', '--service', web, '--to-node', 'rds-sim3'])
    t.equal(back.exitCode, 0, back.stderr)
    t.match(back.stderr, /restore: what volumes \S+, \S+ on rds-sim3 hold now is kept in safety snapshot [0-9a-f]{8}/, "rds-sim3's own volumes are kept before they are rewritten")
    t.equal(await checksums('rds-sim3'), original, 'back on rds-sim3, its own volumes there rewritten from the snapshot, the excluded file kept')
  })

  t.test("rds restore --service of a global service restores one node's volumes in place: its task there alone is stopped and started again on them; a stop an ended restore left is lifted, a cut-off one's is kept", each(), async (t) => {
    const GLOBAL = 'rds-test-globalrestore'
    const job = `${GLOBAL}@rds-sim2`
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', GLOBAL, '--mode', 'global', '--mount', `type=volume,src=${GLOBAL},dst=/data`,
      '--label', 'rds.backup=true', '--label', `rds.backup.run-at=${RARE}`, '--init', 'debian:trixie-slim', 'sh', '-c', 'test -f /data/file || hostname > /data/file; exec sleep infinity',
    ])
    t.teardown(() => sim('rds-sim1', ['service', 'rm', GLOBAL]).catch(() => undefined))
    await waitFor('its job on each node', async () => (JSON.parse((await rds(['jobs', '--json'])).stdout) as { name: string; node?: string }[]).filter((row) => row.name.startsWith(`${GLOBAL}@`) && row.node).length === 3 || undefined, 120)
    const backedUp = await rds(['backup', '--service', GLOBAL])
    t.equal(backedUp.exitCode, 0, backedUp.stderr)
    const containers = async () => Object.fromEntries(await Promise.all(NODES.map(async (node) => [node, await containerOf(node, GLOBAL)] as const)))
    const read = async (node: SimNode) => (await sim(node, ['exec', await containerOf(node, GLOBAL), 'sh', '-c', 'cat /data/*'])).trim()
    const original = await read('rds-sim2')
    const before = await containers()
    await sim('rds-sim2', ['exec', before['rds-sim2']!, 'sh', '-c', 'echo damaged > /data/file; echo stray > /data/stray'])
    const spec = async () => JSON.parse(await sim('rds-sim1', ['service', 'inspect', GLOBAL]))[0].Spec as { Labels: Record<string, string>; TaskTemplate: { Placement?: { Constraints?: string[] } } }
    const nodeId = (await sim('rds-sim1', ['node', 'inspect', '-f', '{{.ID}}', 'rds-sim2'])).trim()

    const restored = await rds(['restore', '--service', GLOBAL, '--host', job])
    t.equal(restored.exitCode, 0, restored.stderr)
    t.match(restored.stderr, new RegExp(`stop: ${GLOBAL} stopped on node ${nodeId} \\(node\\.id != ${nodeId}\\) for the restore; its other tasks run on`))
    t.match(restored.stderr, new RegExp(`restore: what ${GLOBAL}'s volumes on rds-sim2 hold now is kept in safety snapshot [0-9a-f]{8}`))
    const after = await containers()
    t.equal(await read('rds-sim2'), original, 'its volume on rds-sim2 as backed up, the stray file gone')
    t.not(after['rds-sim2'], before['rds-sim2'], 'its task on rds-sim2 was started again, on the restored volume')
    t.same([after['rds-sim1'], after['rds-sim3']], [before['rds-sim1'], before['rds-sim3']], 'its tasks on the other nodes ran on, untouched')
    t.notMatch(JSON.stringify(await spec()), /rds\.(stopped-on|restoring)|node\.id != /, 'no stop and no mark left')
    t.match(await rds(['restore', '--service', GLOBAL, '--host', job, '--to-node', 'rds-sim3']), { exitCode: 2, stderr: /is global: it runs on every node, each with volumes of its own; restore one node's volumes in place with --host/ })

    // As a restore cut off after it rewrote the volumes leaves it: stopped there, not marked. The controller starts it there again.
    await sim('rds-sim1', ['service', 'update', '--detach', '--constraint-add', `node.id != ${nodeId}`, '--label-add', `rds.stopped-on.${nodeId}=restore`, GLOBAL])
    await waitFor('the stop lifted by the controller', async () => !JSON.stringify(await spec()).includes('rds.stopped-on') || undefined, 120)
    t.match(await controllerLog(), new RegExp(`controller: ${GLOBAL} was still stopped on node ${nodeId} by an in-place restore that ended or was cut off with its volumes whole; started there again`))
    await waitFor('its task on rds-sim2 again', () => containerOf('rds-sim2', GLOBAL), 120)
    // Cut off while it rewrote them: stopped and marked there, its job there refused, until a restore there finishes.
    await sim('rds-sim1', ['service', 'update', '--detach', '--constraint-add', `node.id != ${nodeId}`, '--label-add', `rds.stopped-on.${nodeId}=restore`, '--label-add', `rds.restoring.${nodeId}=volumes from 0123abcd`, GLOBAL])
    await waitFor('its task on rds-sim2 gone', async () => (await sim('rds-sim2', ['ps', '-q', '-f', `label=com.docker.swarm.service.name=${GLOBAL}`])) === '' || undefined, 120)
    const refused = await rds(['backup', '--service', GLOBAL])
    t.equal(refused.exitCode, 1)
    t.match(refused.stderr, new RegExp(`controller: ${job}: service ${GLOBAL} is being restored in place on the node of ${job}, or its restore there was cut off \\(volumes from 0123abcd\\); it is neither backed up nor started there until a restore of it there finishes: run rds restore --service ${GLOBAL} --host ${job} \\(again\\)\\.`))
    t.match(JSON.stringify(await spec()), `rds.stopped-on.${nodeId}`, 'the controller left its stop there')
    const again = await rds(['restore', '--service', GLOBAL, '--host', job])
    t.equal(again.exitCode, 0, again.stderr)
    t.equal(await read('rds-sim2'), original, 'a restore that finishes brings it back there')
    t.notMatch(JSON.stringify(await spec()), /rds\.(stopped-on|restoring)|node\.id != /, 'and lifts the stop and the mark')
  })

  t.test('rds restore --service of a database whose table was dropped: the dump of before --at is loaded into the live database; its backups wait meanwhile', each(), async (t) => {
    const db = `${STACK}_db`
    await scheduledMeanwhile(t, db)
    const query = async (sql: string) => (await sim('rds-sim2', ['exec', await containerOf('rds-sim2', db), 'psql', '-U', 'postgres', '-At', '-c', sql])).trim()
    // The newest dump there is now holds the table. Not the time now: a backup that started just
    // before it (its snapshot's time) may dump the database after the table is gone.
    const dumps = await waitFor('a dump after the table', async () => (await snapshotsOf(db)).filter((found) => found.tags?.includes('dump')).at(-1), 60)
    const at = dumps.time
    await query('DROP TABLE rows_to_keep')
    const started = Date.now()
    const restored = await rds(['restore', '--service', db, '--at', at])
    const ended = Date.now()
    t.equal(restored.exitCode, 0, restored.stderr)
    t.equal(await query('SELECT count(*), sum(n) FROM rows_to_keep'), '1000|500500', 'every row is back in the live database')
    t.match(restored.stderr, /restore: what backup_db's database holds now is kept in safety snapshot [0-9a-f]{8}/)
    // From when it held the job (its first line after the lock) to its end, no scheduled run (every 20 s) started.
    const holding = Date.parse(/^(\S+) INFO +restore: backup_db on rds-sim2: /m.exec(restored.stderr)?.[1] ?? '')
    t.ok(holding >= started - 1000, 'the restore says when it holds the job')
    const starts = (await controllerLog()).split('\n').flatMap((line) => /^(\S+) INFO +controller: backup_db: starting on /.exec(line)?.[1] ?? []).map((time) => Date.parse(time))
    t.same(starts.filter((time) => time > holding && time < ended), [], 'while it ran, its scheduled backups waited')
    // A scheduled run that began before the restore held the job may have dumped the dropped table: the next one has it again.
    await waitFor('a scheduled backup of backup_db after the restore', async () => Date.parse((await snapshotsOf(db)).at(-1)?.time ?? '') > ended || undefined, 120)
  })

  t.test('Restoring\'s "A service in place", as written: one file back into the live volume, and the database restored in place', each(), async (t) => {
    await sim('rds-sim3', ['exec', await containerOf('rds-sim3', `${STACK}_web`), 'rm', '/usr/share/nginx/html/index.html'])
    const ran = await runReadme(await readmeShellBlocks('A service in place'), dir)
    t.equal(ran.exitCode, 0, ran.all)
    t.equal(await sim('rds-sim3', ['exec', await containerOf('rds-sim3', `${STACK}_web`), 'cat', '/usr/share/nginx/html/index.html']), '<h1>hello</h1>')
    const rows = await sim('rds-sim2', ['exec', await containerOf('rds-sim2', `${STACK}_db`), 'psql', '-U', 'postgres', '-At', '-c', 'SELECT count(*), sum(n) FROM rows_to_keep'])
    t.equal(rows.trim(), '1000|500500')
  })

  t.test('a new labelled service is picked up; a failing post-hook fails its runs, and retention still runs, as in MODE=service; dropped once removed', each(), async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-extra', '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *',
      '--label', 'rds.backup.post-hook=false', '--label', 'rds.backup.keep-last=1',
      '--mount', 'type=volume,src=rds-test-extra,dst=/data', '--constraint', 'node.hostname==rds-sim2', '--init', 'debian:trixie-slim', 'sh', '-c', 'echo data > /data/file; exec sleep infinity',
    ])
    await waitFor('the new service in rds jobs', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === 'rds-test-extra' && job.node === 'rds-sim2') || undefined, 60)
    for (let run = 0; run < 2; run++) {
      const failed = await rds(['backup', '--service', 'rds-test-extra'])
      t.equal(failed.exitCode, 1, 'the post-hook fails the run')
      t.match(failed.stderr, /controller: rds-test-extra: backed up on rds-sim2 in [\d.]+ s, but what came after the backup failed \(it failed with exit code 1\); its log is above\./)
    }
    t.equal((await snapshotsOf('rds-test-extra')).length, 1, 'keep-last 1 was applied after each complete backup')
    const status = JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { lastSnapshot?: { id: string } }> }
    t.equal(status.jobs['rds-test-extra']?.lastSnapshot?.id, (await snapshotsOf('rds-test-extra'))[0]?.id, 'and its snapshot is recorded')
    await sim('rds-sim1', ['service', 'rm', 'rds-test-extra'])
    await waitFor('the service to be dropped', async () => /controller: rds-test-extra: dropped/.test(await controllerLog()) || undefined, 30)
    t.notOk(JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string }) => job.name === 'rds-test-extra'))
  })

  t.test('a service with a bad label is reported by rds jobs; the others still run', each(), async (t) => {
    await scheduledMeanwhile(t, `${STACK}_db`)
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

  t.test('six services due at one second, two on each node, with the default MAX_JOBS_PER_NODE=1: all succeed, and no node ever runs two of their jobs at once', each(), async (t) => {
    // Due at one second of every minute, some 30 s from now (should the services be slow to come, a minute later).
    const due = new Date(Date.now() + 30_000)
    const schedule = `${due.getUTCSeconds()} * * * * *`
    const since = new Date().toISOString()
    for (const name of QUEUED) {
      const node = name.replace(/^rds-test-queue-(rds-sim\d)-[ab]$/, '$1')
      await sim('rds-sim1', [
        'service', 'create', '--detach', '--name', name, '--label', 'rds.backup=true', '--label', `rds.backup.run-at=${schedule}`,
        '--mount', `type=volume,src=${name},dst=/data`, '--constraint', `node.hostname==${node}`, '--init', 'debian:trixie-slim', 'sh', '-c', 'hostname > /data/file; exec sleep infinity',
      ])
    }
    type Status = { jobs: Record<string, { lastAttempt?: { ok: boolean; finishedAt: string } }> }
    const done = await waitFor('a run of each of the six', async () => {
      const status = JSON.parse((await rds(['status', '--json'])).stdout) as Status
      const attempts = QUEUED.map((name) => status.jobs[name]?.lastAttempt)
      return attempts.every((attempt) => attempt && attempt.finishedAt > since) ? attempts : undefined
    }, 240)
    t.same(done.map((attempt) => attempt?.ok), QUEUED.map(() => true), 'all six succeeded')
    const log = await controllerLog()
    t.match(log, /controller: rds-test-queue-rds-sim\d-[ab]: queued since \d\d:\d\d:\d\d: node rds-sim\d runs rds-test-queue-rds-sim\d-[ab] \(MAX_JOBS_PER_NODE=1\)/, 'a run waited for its node, and the log says why')
    // Each node's own engine says when each job container ran: never two at once there.
    for (const node of ['rds-sim1', 'rds-sim2', 'rds-sim3'] as const) {
      const events = (await sim(node, ['events', '--since', since, '--until', new Date().toISOString(), '--filter', 'type=container', '--filter', 'label=rds.job', '--filter', 'event=start', '--filter', 'event=die', '--format', '{{.Action}} {{.Actor.Attributes.name}}'])).split('\n').filter(Boolean)
      const ours = events.filter((event) => /rds-test-queue/.test(event))
      // A minute later the schedule fires again: a run of the next round may have begun meanwhile.
      t.ok(ours.filter((event) => event.startsWith('die')).length >= 2, `${node}: its two jobs ran and ended: ${ours.join('; ')}`)
      let inside = 0
      let most = 0
      for (const event of events) most = Math.max(most, (inside += event.startsWith('start') ? 1 : -1))
      t.equal(most, 1, `${node}: at most one job container at a time`)
    }
    await sim('rds-sim1', ['service', 'rm', ...QUEUED])
  })

  t.test('rds coverage shows every volume on every node: a volume nobody labelled is NOT COVERED', each(), async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-unlabelled', '--constraint', 'node.hostname==rds-sim3',
      '--mount', 'type=volume,src=rds-test-free,dst=/data', '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    await containerOf('rds-sim3', 'rds-test-unlabelled')
    const coverage = await rds(['coverage', '--json'])
    t.equal(coverage.exitCode, 1, 'a volume in use is not covered')
    const rows = JSON.parse(coverage.stdout) as { node: string; volume: string; status: string; job?: string; lastSnapshot?: string; lastDefinition?: string }[]
    const row = (node: string, volume: string) => rows.find((r) => r.node === node && r.volume === volume)
    t.match(row('rds-sim3', 'rds-test-free'), { status: 'NOT COVERED', services: ['rds-test-unlabelled'] })
    t.match(row('rds-sim2', `${STACK}_db-data`), { status: 'covered', job: `${STACK}_db`, lastSnapshot: /^\d{4}-/, lastDefinition: /^\d{4}-/, flags: ['by its dump'] })
    t.match(row('rds-sim3', `${STACK}_site`), { status: 'covered', job: `${STACK}_web` })
    t.match(row('rds-sim3', `${STACK}_uploads`), { status: 'covered', job: `${STACK}_web` })
    t.match(row('rds-sim1', `${STACK}_repositories`), { status: 'excluded' }, 'the server says rds.backup=false')
    const text = await rds(['coverage'])
    t.match(text.stdout, /^rds-sim3 {2}rds-test-free {2}NOT COVERED {2}used by rds-test-unlabelled$/m)
    t.match(text.stdout, /^rds-sim2 {2}backup_db-data {2}covered {2}by backup_db, last snapshot .+ ago, definition saved .+ ago/m, "the age of its newest restorable point: its data and its stack's definition")
    const names = await sim('rds-sim1', ['service', 'ls', '--format', '{{.Name}}', '--filter', 'label=rds.job'])
    t.notMatch(names, /rds-survey-/, 'the survey job is removed')
    await sim('rds-sim1', ['service', 'rm', 'rds-test-unlabelled'])
  })

  t.test('the controller killed mid-run leaves no job service behind, and the next run succeeds', each(), async (t) => {
    await scheduledMeanwhile(t, `${STACK}_db`)
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

  t.test('each job\'s status survives the controller; an OVERDUE job is notified and in rds status, but never restarts the controller, while the other jobs run on', each(), async (t) => {
    await scheduledMeanwhile(t, `${STACK}_db`)
    const status = async () => JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { state: string; watchedSince: string; snapshots?: number; lastSnapshot?: { id: string } }> }
    // The controller killed by the test before may have kept backup_db past its 40 s limit: wait for its next run.
    const db = await waitFor('backup_db recorded as OK', async () => {
      const job = (await status()).jobs[`${STACK}_db`]
      return job && /^(OK|RUNNING)$/.test(job.state) && job.lastSnapshot ? job : undefined
    }, 90)
    t.match(db, { snapshots: Number, lastSnapshot: { id: /^[0-9a-f]{64}$/ } }, 'the controller records each run and its snapshot')

    // Health checks every 2 s; then a service that is never due on its schedule, and may go 20 s
    // without a backup. Made once the new controller runs: the one being replaced, whose stop may wait
    // for a run of backup_db, would otherwise see it OVERDUE first and say so in its own log.
    await sim('rds-sim1', ['service', 'update', '--detach', '--health-interval', '2s', '--health-retries', '2', '--health-start-period', '15s', `${STACK}_agent`])
    const agent = await waitFor('the controller with the 2 s health check', async () => {
      const id = await containerOf('rds-sim1', `${STACK}_agent`)
      return id && (await sim('rds-sim1', ['inspect', '-f', '{{.Config.Healthcheck.Interval}}', id]).catch(() => '')).trim() === '2s' ? id : undefined
    }, 120)
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-overdue', '--constraint', 'node.hostname==rds-sim2', '--mount', 'type=volume,src=rds-test-overdue,dst=/data',
      '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', 'rds.backup.overdue-after=20s', '--init', 'debian:trixie-slim', 'sh', '-c', 'echo data > /data/file; exec sleep infinity',
    ])
    const watched = await waitFor('the job in the status', async () => (await status()).jobs['rds-test-overdue'], 120)
    await waitFor('the job to be OVERDUE', async () => (await status()).jobs['rds-test-overdue']?.state === 'OVERDUE' || undefined, 60)
    await waitFor('the OVERDUE notice in the log', async () => /ERROR status: rds-test-overdue is OVERDUE: no successful backup of rds-test-overdue/.test(await controllerLog()) || undefined, 90).catch(async (error: Error) => {
      // What the status recorded of the notice, and what the log says, for whoever reads the failure.
      const job = (await status()).jobs['rds-test-overdue']
      throw new Error(`${error.message}; the status: ${JSON.stringify(job)}; the log ends:\n${(await controllerLog()).split('\n').slice(-20).join('\n')}`)
    })
    // backup_db runs every 20 s: two more of its snapshots, while some 20 health checks see the OVERDUE job.
    for (let run = 0; run < 2; run++) {
      const before = await newestSnapshot(`${STACK}_db`)
      await waitFor('another scheduled snapshot of backup_db', async () => (await newestSnapshot(`${STACK}_db`)) !== before || undefined, 90)
    }
    t.equal(await containerOf('rds-sim1', `${STACK}_agent`), agent, 'the controller was never replaced')
    t.equal((await sim('rds-sim1', ['inspect', '-f', '{{.State.Health.Status}}', agent])).trim(), 'healthy', 'and is healthy')
    const tasks = (await sim('rds-sim1', ['service', 'ps', '-q', '--filter', 'desired-state=running', `${STACK}_agent`])).trim().split('\n')
    t.equal(tasks.length, 1, 'one controller task')
    const statusRun = await rds(['status'])
    t.equal(statusRun.exitCode, 1, 'rds status exits 1 for it')
    t.match(statusRun.stdout, /^rds-test-overdue: OVERDUE/m)
    t.equal((await status()).jobs['rds-test-overdue']!.watchedSince, watched.watchedSince)

    const run = await rds(['backup', '--service', 'rds-test-overdue'])
    t.equal(run.exitCode, 0, run.stderr)
    t.match((await status()).jobs['rds-test-overdue'], { state: 'OK' }, 'a good run ends it')
    await sim('rds-sim1', ['service', 'rm', 'rds-test-overdue'])
    await waitFor('the job to be dropped from the status', async () => !(await status()).jobs['rds-test-overdue'] || undefined, 30)
    t.equal(await containerOf('rds-sim1', `${STACK}_agent`), agent, 'and stays up')
  })

  /** Runs `rds backup --service` by hand while `sample` is called every half second; resolves to the run and the samples. */
  async function sampledRun<T>(service: string, sample: () => Promise<T>) {
    const samples: T[] = []
    let done = false
    const sampling = (async () => {
      while (!done) {
        samples.push(await sample())
        await sleep(500)
      }
    })()
    const run = await rds(['backup', '--service', service]).finally(() => (done = true))
    await sampling
    return { run, samples }
  }

  /** Kills the controller once a job of `service` is under way, and waits for Swarm to start another. */
  async function killControllerMidRun(service: string, stopped: () => Promise<boolean>) {
    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    const run = rds(['backup', '--service', service])
    await waitFor('the service stopped and its job running', async () => ((await stopped()) && (await jobServices()).length > 0) || undefined, 60)
    await sim('rds-sim1', ['kill', agent])
    await run
    await waitFor('a new controller', async () => (await containerOf('rds-sim1', `${STACK}_agent`)) !== agent || undefined, 120)
  }

  t.test('rds.backup.stop=scale: the service comes back to its replica count after a backup, a failed backup, and a controller killed mid-backup', each(), async (t) => {
    const SCALED = 'rds-test-scale'
    // 150 MB, so that the backup takes a few seconds.
    await sim('rds-sim3', ['run', '--rm', '-v', `${SCALED}:/data`, 'debian:trixie-slim', 'sh', '-c', 'head -c 150000000 /dev/urandom > /data/big.bin'])
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', SCALED, '--replicas', '2', '--constraint', 'node.hostname==rds-sim3', '--mount', `type=volume,src=${SCALED},dst=/data`,
      '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', 'rds.backup.stop=scale', '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    const state = async () => {
      const [replicas, recorded] = (await sim('rds-sim1', ['service', 'inspect', '--format', '{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels "rds.scaled-from"}}', SCALED])).trim().split(' ')
      const running = (await sim('rds-sim3', ['ps', '-q', '-f', `label=com.docker.swarm.service.name=${SCALED}`, '-f', 'status=running'])).split('\n').filter(Boolean).length
      return { replicas: Number(replicas), recorded: recorded === '<no value>' ? undefined : recorded, running }
    }
    const backUp = (what: string) => waitFor(what, async () => {
      const now = await state()
      return (now.replicas === 2 && now.running === 2 && now.recorded === undefined) || undefined
    }, 120)
    await backUp('two replicas running')
    await waitFor('the job on rds-sim3', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === SCALED && job.node === 'rds-sim3') || undefined, 60)

    const good = await sampledRun(SCALED, state)
    t.equal(good.run.exitCode, 0, good.run.stderr)
    t.ok(good.samples.some((s) => s.replicas === 0 && s.running === 0 && s.recorded === '2'), 'during the backup: no replica, no container, and the count recorded on the service')
    t.same(await state(), { replicas: 2, recorded: undefined, running: 2 }, 'back to 2 replicas when the run ends')
    t.match(good.run.stderr, /stop: scaling rds-test-scale from 2 replica\(s\) to 0[\s\S]*rds-test-scale: backup: snapshot [0-9a-f]{8} saved[\s\S]*stop: rds-test-scale runs 2 replica\(s\) again[\s\S]*rds-test-scale was scaled to 0 for [\d.]+ s \(downtime\)/)
    const status = JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { lastDowntimeSeconds?: number }> }
    t.ok(status.jobs[SCALED]?.lastDowntimeSeconds! > 0, 'the downtime is recorded, for rds_last_downtime_seconds')

    // Excluding every file makes an empty snapshot, which the guard rejects: the backup fails.
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.exclude=*', SCALED])
    await waitFor('the label read', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === SCALED && job.node) || undefined, 60)
    const failed = await rds(['backup', '--service', SCALED])
    t.equal(failed.exitCode, 1)
    t.match(failed.stderr, /rds-test-scale: run: failed after[\s\S]*stop: rds-test-scale runs 2 replica\(s\) again/)
    t.same(await state(), { replicas: 2, recorded: undefined, running: 2 }, 'back after a failed backup')
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-rm', 'rds.backup.exclude', SCALED])
    await backUp('two replicas running again')

    await killControllerMidRun(SCALED, async () => (await state()).replicas === 0)
    await backUp('the new controller to scale the service back')
    t.match(await controllerLog(), /controller: rds-test-scale was left scaled to 0 by a backup that did not end; scaling it back/)
    await sim('rds-sim1', ['service', 'rm', SCALED])
  })

  t.test('rds.backup.stop=pause: the containers are paused for the backup and unpaused after it, a failed backup, and a controller killed mid-backup', each(), async (t) => {
    const PAUSED = 'rds-test-pause'
    await sim('rds-sim2', ['run', '--rm', '-v', `${PAUSED}:/data`, 'debian:trixie-slim', 'sh', '-c', 'head -c 150000000 /dev/urandom > /data/big.bin'])
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', PAUSED, '--constraint', 'node.hostname==rds-sim2', '--mount', `type=volume,src=${PAUSED},dst=/data`,
      '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', 'rds.backup.stop=pause', '--label', 'rds.backup.pre-hook=sync',
      '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    // docker ps lists running and paused containers (containerOf waits for a running one).
    const container = () => waitFor(`a container of ${PAUSED}`, async () => (await sim('rds-sim2', ['ps', '-q', '-f', `label=com.docker.swarm.service.name=${PAUSED}`])).split('\n')[0], 60)
    const isPaused = async () => (await sim('rds-sim2', ['inspect', '-f', '{{.State.Paused}}', await container()])).trim() === 'true'
    const unpaused = (what: string) => waitFor(what, async () => !(await isPaused()) || undefined, 120)
    await waitFor('the job on rds-sim2', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === PAUSED && job.node === 'rds-sim2') || undefined, 60)

    const good = await sampledRun(PAUSED, isPaused)
    t.equal(good.run.exitCode, 0, good.run.stderr)
    t.ok(good.samples.includes(true), 'paused during the backup')
    t.notOk(await isPaused(), 'unpaused after it')
    t.match(good.run.stderr, /rds-test-pause: pre-hook: done[\s\S]*rds-test-pause: stop: paused 1 container\(s\) of rds-test-pause on rds-sim2[\s\S]*rds-test-pause: stop: unpaused 1 container\(s\) of rds-test-pause after [\d.]+ s \(downtime [\d.]+ s\)/)
    const status = JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { lastDowntimeSeconds?: number }> }
    t.ok(status.jobs[PAUSED]?.lastDowntimeSeconds! > 0, "the job's downtime reaches the controller's status")

    await sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.exclude=*', PAUSED])
    await waitFor('the label read', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === PAUSED && job.node) || undefined, 60)
    const failed = await rds(['backup', '--service', PAUSED])
    t.equal(failed.exitCode, 1)
    t.match(failed.stderr, /rds-test-pause: stop: unpaused 1 container\(s\) of rds-test-pause[\s\S]*rds-test-pause: run: failed after/)
    t.notOk(await isPaused(), 'unpaused after a failed backup')
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-rm', 'rds.backup.exclude', PAUSED])
    await waitFor('the label read', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === PAUSED && job.node) || undefined, 60)
    await sim('rds-sim2', ['exec', await containerOf('rds-sim2', PAUSED), 'sh', '-c', 'head -c 150000000 /dev/urandom > /data/more.bin'])

    await killControllerMidRun(PAUSED, isPaused)
    await unpaused('the service to be unpaused after the controller was killed')
    t.pass('unpaused after the controller was killed mid-backup')
    await sim('rds-sim1', ['service', 'rm', PAUSED])
  })

  t.test('a 1 GB Postgres on a volume with less room than its dump is dumped, streamed, and restored whole into a fresh Postgres on another node', each(), async (t) => {
    const BIG = 'rds-test-bigdb'
    const FRESH = 'rds-test-bigdb-fresh'
    // The database's volume: 2 GB of tmpfs, which the data fills but for less than the dump needs.
    await sim('rds-sim3', ['volume', 'create', '--driver', 'local', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=2g', BIG])
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', BIG, '--constraint', 'node.hostname==rds-sim3', '--mount', `type=volume,src=${BIG},dst=/var/lib/postgresql/data`,
      '-e', 'POSTGRES_PASSWORD=big', '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *', '--label', 'rds.backup.dump=postgres', 'postgres:17',
    ])
    await sim('rds-sim1', ['service', 'create', '--detach', '--name', FRESH, '--constraint', 'node.hostname==rds-sim1', '-e', 'POSTGRES_PASSWORD=fresh', 'postgres:17'])
    const psql = async (node: 'rds-sim1' | 'rds-sim3', service: string, sql: string) => {
      const container = await containerOf(node, service)
      await waitFor(`${service} to accept connections`, async () => (await sim(node, ['exec', container, 'pg_isready', '-U', 'postgres'])) !== undefined, 120)
      return (await sim(node, ['exec', container, 'psql', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql])).trim()
    }
    // UNLOGGED: no write-ahead log, which would not fit beside the data on this small volume.
    await psql('rds-sim3', BIG, 'CREATE UNLOGGED TABLE big (n bigint, note text); INSERT INTO big SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, 10000000) i;')
    const free = Number((await sim('rds-sim3', ['exec', await containerOf('rds-sim3', BIG), 'df', '-B1', '--output=avail', '/var/lib/postgresql/data'])).split('\n')[1])
    const FINGERPRINT = 'SELECT count(*), sum(n), sum(hashtext(note)::bigint) FROM big'
    const expected = await psql('rds-sim3', BIG, FINGERPRINT)
    await waitFor('the job on rds-sim3', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === BIG && job.node === 'rds-sim3') || undefined, 60)

    const backup = await rds(['backup', '--service', BIG])
    t.equal(backup.exitCode, 0, backup.stderr)
    const [dump] = JSON.parse((await rds(['snapshots', '--json', '--host', BIG])).stdout) as { paths: string[]; summary: { total_bytes_processed: number } }[]
    t.same(dump?.paths, ['/pg_dumpall.sql'])
    t.ok(dump!.summary.total_bytes_processed > 1e9, `a dump of more than 1 GB (${dump!.summary.total_bytes_processed} bytes)`)
    t.ok(free < dump!.summary.total_bytes_processed, `more than the database's volume has free (${free} bytes): it was never written there`)
    t.comment(backup.stderr.split('\n').filter((line) => /dump: |backed up on/.test(line)).join('\n'))

    const restored = await rds(['restore-dump', '--service', BIG, '--to-service', FRESH])
    t.equal(restored.exitCode, 0, restored.stderr)
    t.match(restored.stderr, /restore-dump: loading the dump of rds-test-bigdb into rds-test-bigdb-fresh on rds-sim1/)
    t.equal(await psql('rds-sim1', FRESH, FINGERPRINT), expected, 'every row came back')
    await sim('rds-sim1', ['service', 'rm', BIG, FRESH])
  })

  t.test('rds.backup.dump=sqlite: a database an application writes to all along is dumped by a job in its volume on its node, and restore-dump puts one moment of it back under the running application', each(), async (t) => {
    const name = 'rds-test-sqlite'
    // The application writes a row and counts it, in one transaction, again and again: a dump that
    // is not one moment's database shows (the count differs from the rows). It runs the agent's
    // image for its sqlite3; the job uses its own.
    const writer = [
      'cd /srv/app',
      '[ -e app.db ] || sqlite3 app.db "PRAGMA journal_mode=WAL; CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT); CREATE TABLE counter(n INTEGER); INSERT INTO counter VALUES (0);" >/dev/null',
      'while :; do echo "BEGIN IMMEDIATE; INSERT INTO item(body) VALUES (hex(randomblob(100))); UPDATE counter SET n = n + 1; COMMIT;"; sleep 0.01; done | sqlite3 -bail -cmd ".timeout 10000" app.db',
    ].join('\n')
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', name, '--constraint', 'node.hostname==rds-sim3', '--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *',
      '--label', 'rds.backup.dump=sqlite', '--label', 'rds.backup.dump.database=/srv/app/app.db', '--mount', `type=volume,src=${name},dst=/srv/app`,
      '--init', '--no-healthcheck', '--entrypoint', 'sh', 'restic-docker-swarm-agent:latest', '-c', writer,
    ])
    const app = async (sql: string) => (await sim('rds-sim3', ['exec', await containerOf('rds-sim3', name), 'sqlite3', '-cmd', '.timeout 10000', '/srv/app/app.db', sql])).trim()
    await waitFor('rds-test-sqlite writing, and in rds jobs', async () => {
      const listed = JSON.parse((await rds(['jobs', '--json'])).stdout || '[]') as { name: string; node?: string }[]
      return listed.some((row) => row.name === name && row.node === 'rds-sim3') && Number(await app('SELECT n FROM counter').catch(() => '0')) > 50 ? true : undefined
    }, 120)
    // A row the restore must bring back: it is in the dump, then deleted.
    await app("BEGIN IMMEDIATE; INSERT INTO item(body) VALUES ('marker'); UPDATE counter SET n = n + 1; COMMIT;")
    const backup = await rds(['backup', '--service', name])
    t.equal(backup.exitCode, 0, backup.stderr)
    const streamed = new RegExp(`dump: streaming sqlite3's \\.dump of /database/app\\.db into database\\.sql`)
    t.ok(await waitFor('the job\'s dump line', async () => streamed.test(backup.stderr + (await controllerLog())) || undefined, 30), 'the job read the database in its volume')
    t.match((await snapshotsOf(name)).at(-1), { paths: ['/database.sql'], tags: ['dump'] })
    await app("BEGIN IMMEDIATE; DELETE FROM item; UPDATE counter SET n = 0; COMMIT;")

    // Under the running application, which writes on into the restored database.
    const restored = await rds(['restore-dump', '--service', name])
    t.equal(restored.exitCode, 0, restored.stderr)
    t.equal(await app('PRAGMA integrity_check'), 'ok')
    t.equal(await app("SELECT count(*) FROM item WHERE body = 'marker'"), '1', 'the deleted row is back')
    const [rows, counted] = (await app('SELECT count(*), (SELECT n FROM counter) FROM item')).split('|').map(Number)
    t.ok(rows! > 50 && rows === counted, `one moment's database, and the writes after it: ${rows} rows, ${counted} counted`)
    t.match(await sim('rds-sim3', ['exec', await containerOf('rds-sim3', name), 'ls', '/srv/app']), /app\.db\.before-restore-\d{8}T\d{9}Z/, 'what it held before is kept beside it')
    // Its data is on rds-sim3, which a later test stops: gone, it is no job of that node.
    await sim('rds-sim1', ['service', 'rm', name])
  })

  t.test("the single-service mode runs its hooks, and a streamed dump, on a worker node", each(), async (t) => {
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-single', '--constraint', 'node.hostname==rds-sim2', '--network', `${STACK}_backup`,
      '--mount', 'type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock',
      '--secret', 'source=restic-ssh-privkey,mode=0400', '--secret', 'restic-ssh-known-hosts', '--secret', 'restic-repo-password',
      '-e', 'SSH_HOST=server', '-e', 'SSH_PORT=2222', '-e', 'REPO_PATH=single', '-e', 'RUN_AT=0 3 * * *', '-e', `SERVICE_NAME=${STACK}_db`,
      '-e', 'DUMP_COMMAND=postgres', '-e', 'PRE_HOOK=psql -U postgres -c checkpoint', '-e', 'POST_HOOK=echo "the run: $RDS_RUN_STATUS"', 'restic-docker-swarm-agent:latest',
    ])
    const single = await containerOf('rds-sim2', 'rds-test-single')
    const run = await execa('docker', ['exec', single, 'rds', 'backup'], { env: nodeEnv('rds-sim2'), reject: false })
    t.equal(run.exitCode, 0, run.stderr)
    t.match(run.stderr, /pre-hook: running in backup_db[\s\S]*pre-hook: done[\s\S]*dump: \S+ \S+ saved as pg_dumpall\.sql in snapshot [0-9a-f]{8}[\s\S]*post-hook: the run: success[\s\S]*post-hook: done/)
  })

  t.test('the controller made append-only with rds keygen as the README says, beside an SFTP agent: backups, a restore, deletions refused, a killed job\'s lock removed, its repository only, and the server\'s maintenance', each(), async (t) => {
    const secrets = join(dir, 'restic-secrets')
    // The server's maintenance, as "Maintenance on the server" adds it, with two values changed so
    // that it comes in seconds and forgets something: every 30 s, keep-last 2.
    const [maintenance] = await readmeShellBlocks('Maintenance on the server')
    const policy = 'keep-within=30d keep-monthly=12 read-data-subset=5%'
    t.ok(maintenance!.includes(policy) && maintenance!.includes("'MAINTENANCE_AT=0 4 * * *'"), 'the values the test changes are in the block')
    // Maintenance every 30 s and a check every 15 s (below) lock the repository whole, over and
    // over: left on, they starve every later test's backups of their lock.
    t.teardown(() => sim('rds-sim1', ['service', 'update', '--detach=false', '--env-rm', 'MAINTENANCE_AT', `${STACK}_server`]))
    const maintained = await runReadme([maintenance!.replace(policy, 'keep-last=2').replace("'MAINTENANCE_AT=0 4 * * *'", "'MAINTENANCE_AT=*/30 * * * * *'")], dir)
    t.equal(maintained.exitCode, 0, maintained.all)
    // The docs' commands: rds keygen (on this machine's engine, which has the image and can mount
    // this folder), then the block it prints, against the Swarm; then the retention label removed.
    const [keygen, dropLabel] = await readmeShellBlocks('Append-only backups')
    const made = await execa('bash', ['-e', '-c', keygen!], { cwd: dir, reject: false, all: true })
    t.equal(made.exitCode, 0, made.exitCode === 0 ? 'rds keygen, as the README runs it' : made.all)
    const printed = made.stdout.split('\n').filter((line) => /^  (docker |\w+=\$\(docker )/.test(line))
    t.equal(printed.length, 6, 'it prints six commands')
    const switchedAt = new Date()
    const applied = await runReadme(printed.map((line) => line.trim()), secrets)
    t.equal(applied.exitCode, 0, applied.exitCode === 0 ? 'the printed commands, as printed' : applied.all)
    t.teardown(() => sim('rds-sim1', ['service', 'update', '--detach=false', '--env-rm', 'CHECK_AT', `${STACK}_agent`]))
    await sim('rds-sim1', ['service', 'update', '--detach=false', '--env-add', 'CHECK_AT=*/15 * * * * *', `${STACK}_agent`])
    const serverLog = async () => serviceLog(`${STACK}_server`, switchedAt)
    const log = await waitFor('the server to start with the new key', async () => ((await serverLog()).includes('keys: rds-agent-swarm: append-only, repository swarm') ? serverLog() : undefined), 60)
    t.match(log, /keys: restic-agent: SFTP, every repository/, 'the first key still speaks SFTP')
    t.match(log, /WARN  maintenance: swarm is written by an append-only key \(rds-agent-swarm\) and its policy has no keep-within/)

    const since = async () => controllerLog(switchedAt)
    await scheduledMeanwhile(t, `${STACK}_db`)
    await waitFor('two scheduled backups of backup_db by the append-only controller', async () => ((await since()).match(/controller: backup_db: backed up on rds-sim2/g)?.length ?? 0) >= 2 || undefined, 300)
    const jobs = await rds(['jobs'])
    t.match(jobs.stdout, /backup_web: .*label rds\.backup\.keep-within is set but the agent has SERVER_MODE=append-only/, "web's own retention label is refused; db still runs")
    const dropped = await runReadme([dropLabel!], dir)
    t.equal(dropped.exitCode, 0, dropped.all)
    await waitFor('backup_web scheduled again without its retention label', async () => (/^backup_web: "[^"]+" on rds-sim3/m.test((await rds(['jobs'])).stdout) ? true : undefined), 60)
    const dump = await rds(['export', '--host', `${STACK}_db`, '--path', '/pg_dumpall.sql'])
    t.equal(dump.exitCode, 0, dump.stderr)
    t.match(dump.stdout, /CREATE TABLE public\.rows_to_keep/, 'the dump restores through the append-only key')

    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    const inAgent = (args: string[], options: { env?: string[]; input?: string } = {}) =>
      execa('docker', ['exec', '-i', ...(options.env ?? []).flatMap((variable) => ['-e', variable]), agent, ...args], { env: nodeEnv('rds-sim1'), reject: false, input: options.input })
    const forget = await inAgent(['runrestic', 'forget', '--keep-last', '1', '--prune'])
    t.equal(forget.exitCode, 2)
    t.match(forget.stderr, /runrestic: restic forget cannot run here: the server refuses every deletion from an append-only agent/)
    // The newest: the server's maintenance (keep-last 2, every 30 s) may forget an older one meanwhile.
    const snapshot = (await snapshotsOf(`${STACK}_db`)).sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).at(-1)
    // Deleting a snapshot file and overwriting the config, with the agent's own key and transport.
    const attack = await inAgent(['node', '--input-type=module', '-'], {
      input: [
        "import { openWorkspace } from '/opt/rds/dist/lib/restic/workspace.js'",
        "import { createLogger } from '/opt/rds/dist/lib/observe/log.js'",
        "import { serveArgs } from '/opt/rds/dist/lib/restic/repository.js'",
        "import { restRequest } from '/opt/rds/dist/lib/transport/rest-over-ssh.js'",
        'const workspace = await openWorkspace(process.env, createLogger({}))',
        "const command = [...serveArgs('append-only'), 'swarm']",
        `const deleted = await restRequest(workspace.repository.ssh.transport, command, 'DELETE', '/snapshots/${snapshot!.id}')`,
        "const overwritten = await restRequest(workspace.repository.ssh.transport, command, 'POST', '/config', Buffer.from('x'))",
        'await workspace.close()',
        'console.log(JSON.stringify([deleted.status, overwritten.status]))',
      ].join('\n'),
    })
    t.same(JSON.parse(attack.stdout || 'null'), [403, 403], `deleting a snapshot and overwriting the config are refused: ${attack.stderr}`)
    t.ok((await snapshotsOf(`${STACK}_db`)).some((listed) => listed.id === snapshot!.id), 'the snapshot is still there')
    const other = await inAgent(['runrestic', 'snapshots'], { env: ['REPO_PATH=single'] })
    t.equal(other.exitCode, 1)
    t.match(other.stderr, /rds-serve: this key reaches the repository swarm only, not single/, "the key cannot list another agent's repository")

    // A job killed mid-backup leaves its lock; the controller's next check finds the job gone and removes it.
    await sim('rds-sim1', ['service', 'create', '--detach', '--name', 'rds-test-slow', '--constraint', 'node.hostname==rds-sim2', '--label', 'rds.backup=true', '--label', 'rds.backup.dump=sleep 60; echo slow', '--label', 'rds.backup.run-at=0 3 * * *', 'debian:trixie-slim', 'sleep', 'infinity'])
    await waitFor('the slow job to be known', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === 'rds-test-slow' && job.node) || undefined, 60)
    const slow = rds(['backup', '--service', 'rds-test-slow'])
    const job = await waitFor('the slow job running on rds-sim2', async () => (await sim('rds-sim2', ['ps', '-q', '-f', 'label=rds.job=rds-test-slow', '-f', 'status=running'])).split('\n')[0] || undefined, 60)
    // Killed only once its restic holds its lock (a loaded machine may take a while to get there).
    await waitFor('the slow job\'s lock in the repository', async () => {
      const ids = (await inAgent(['runrestic', 'list', 'locks', '--no-lock'])).stdout.split('\n').filter(Boolean)
      for (const id of ids) {
        const lock = await inAgent(['runrestic', 'cat', 'lock', id, '--no-lock'])
        if (lock.exitCode === 0 && /"hostname": "rds-job-[a-z0-9]{8}-rds-test-slow-/.test(lock.stdout)) return true
      }
      return undefined
    }, 120)
    await sim('rds-sim2', ['kill', job])
    t.not((await slow).exitCode, 0, 'the killed backup failed')
    const removed = await waitFor('the dead job\'s lock removed by the check', async () => {
      const text = await since()
      return /locks: removed the lock [0-9a-f]{8} of root@rds-job-\S+ .*made by the job rds-job-\S+, whose task ended \(failed\)/.test(text) && /repository swarm: no errors in repository swarm/.test(text) ? text : undefined
    }, 180)
    t.match(removed, /locks: removed the lock/)

    // The server's scheduled maintenance: forgets by its policy, prunes, checks; the next backup still works.
    const forgot = await waitFor('a maintenance that forgot snapshots', async () => {
      const text = await serverLog()
      return /maintenance swarm: forgot [1-9]\d* of \d+ snapshots and pruned/.test(text) && /maintenance swarm: checked: no errors/.test(text) ? text : undefined
    }, 240)
    t.match(forgot, /maintenance swarm: policy keep-last 2, then prune/)
    const server = await containerOf('rds-sim1', `${STACK}_server`)
    const status = await sim('rds-sim1', ['exec', server, 'rds', 'status'])
    t.match(status, /maintenance swarm: \w+; .*last success 20/, "recorded in the server's STATUS_FILE")
    // Every snapshot older than the last maintenance's start was before its forget: keep-last 2 left at
    // most two of each host and paths (restic's groups), whatever else the repository holds.
    // By the lines' own times: docker service logs may pass the service's stdout and stderr lines out of order.
    const at = (pattern: RegExp) => forgot.split('\n').filter((line) => pattern.test(line)).map((line) => Date.parse(line.slice(0, 24))).filter((time) => !Number.isNaN(time))
    const lastForget = Math.max(...at(/maintenance swarm: forgot [1-9]/))
    const startedAt = Math.max(...at(/maintenance swarm: policy keep-last 2/).filter((time) => time <= lastForget))
    t.ok(Number.isFinite(startedAt), 'the start of the maintenance that forgot')
    const groups = new Map<string, number>()
    for (const listed of JSON.parse((await rds(['snapshots', '--json'])).stdout) as { time: string; hostname: string; paths: string[]; tags?: string[] }[]) {
      if (Date.parse(listed.time) >= startedAt) continue
      const group = `${listed.hostname} ${listed.paths.join(',')} ${(listed.tags ?? []).join(',')}`
      groups.set(group, (groups.get(group) ?? 0) + 1)
    }
    t.ok(groups.size > 0 && [...groups.values()].every((count) => count <= 2), `keep-last 2 for each host, paths and tags: ${JSON.stringify(Object.fromEntries(groups))}`)
    const after = new Date()
    await waitFor('a backup of backup_db after the maintenance', async () => {
      const text = await controllerLog(after)
      return /controller: backup_db: backed up on rds-sim2/.test(text) || undefined
    }, 120)
    const check = await inAgent(['runrestic', 'check'])
    t.equal(check.exitCode, 0, `the repository checks clean: ${check.stderr}`)

    // The SFTP agent of the test before, beside it on the same server: backs up and forgets as before.
    const single = await containerOf('rds-sim2', 'rds-test-single')
    const sftp = await execa('docker', ['exec', '-e', 'KEEP_LAST=1', '-e', 'PRUNE=true', single, 'rds', 'backup'], { env: nodeEnv('rds-sim2'), reject: false })
    t.equal(sftp.exitCode, 0, sftp.stderr)
    t.match(sftp.stderr, /retention keep-last 1, then prune/)
    const kept = await execa('docker', ['exec', single, 'runrestic', 'snapshots', '--json'], { env: nodeEnv('rds-sim2'), reject: false })
    t.equal(JSON.parse(kept.stdout).length, 1, 'the SFTP key could delete: one snapshot left in its repository')
  })

  t.test('one controller at a time: a second replica waits in standby, and takes over once the first is killed', each(), async (t) => {
    const agent = `${STACK}_agent`
    const running = async () => (await sim('rds-sim1', ['ps', '-q', '-f', `label=com.docker.swarm.service.name=${agent}`, '-f', 'status=running'])).split('\n').filter(Boolean)
    await scheduledMeanwhile(t, `${STACK}_db`)
    const first = await containerOf('rds-sim1', agent)
    const started = new Date()
    await sim('rds-sim1', ['service', 'scale', '--detach', `${agent}=2`])
    // One controller again whatever happens here: the tests after this one speak to "the" controller.
    t.teardown(() => sim('rds-sim1', ['service', 'scale', '--detach', `${agent}=1`]).then(() => waitFor('one controller after the standby test', async () => (await running()).length === 1 || undefined, 120)))
    await waitFor('a second controller', async () => (await running()).length === 2 || undefined, 120)
    const log = async () => serviceLog(agent, started)
    await waitFor('the second controller in standby', async () => /controller: standby: the controller in container [0-9a-f]{12} holds the lease/.test(await log()) || undefined, 90)
    let before = await newestSnapshot(`${STACK}_db`)
    await waitFor('a scheduled backup of backup_db meanwhile', async () => (await newestSnapshot(`${STACK}_db`)) !== before || undefined, 90)
    t.notMatch(await log(), /removing job service/, 'the controller in standby removed none of the running one\'s job services')

    await sim('rds-sim1', ['kill', first])
    await waitFor('another controller to take over', async () => /controller: the lease is free.*; this controller takes over/.test(await log()) || undefined, 180)
    before = await newestSnapshot(`${STACK}_db`)
    await waitFor('a scheduled backup of backup_db under the new controller', async () => (await newestSnapshot(`${STACK}_db`)) !== before || undefined, 120)
    await sim('rds-sim1', ['service', 'scale', '--detach', `${agent}=1`])
    await waitFor('one controller again', async () => (await running()).length === 1 || undefined, 120)
    before = await newestSnapshot(`${STACK}_db`)
    await waitFor('a scheduled backup of backup_db after it', async () => (await newestSnapshot(`${STACK}_db`)) !== before || undefined, 150)
  })

  t.test('a worker that dies mid-job fails that run within two minutes, naming the node; the controller goes on; once it is removed, one rds recover brings its Postgres and web service back on another node with identical data; a per-node job keeps its node while down and after its task left', each(), async (t) => {
    type Row = { name: string; node?: string; unavailable?: string }
    const jobs = async () => JSON.parse((await rds(['jobs', '--json'])).stdout) as Row[]
    // What the node takes with it: a Postgres beside the web service, whose volumes get a few hundred MB more.
    const LOSTDB = 'rds-test-lostdb'
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', LOSTDB, '--constraint', 'node.hostname==rds-sim3', '--secret', 'db-password', '--env', 'POSTGRES_PASSWORD_FILE=/run/secrets/db-password',
      '--mount', `type=volume,src=${LOSTDB},dst=/var/lib/postgresql/data`, '--label', 'rds.backup=true', '--label', 'rds.backup.dump=postgres', '--label', 'rds.backup.run-at=0 3 * * *', 'postgres:17',
    ])
    const psql = async (node: SimNode, sql: string) => sim(node, ['exec', await containerOf(node, LOSTDB), 'psql', '-U', 'postgres', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql])
    await waitFor(`${LOSTDB} to accept connections`, async () => (await psql('rds-sim3', 'select 1')) === '1' || undefined)
    await psql('rds-sim3', "CREATE TABLE orders (n int PRIMARY KEY, code text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 200000) g;")
    const TABLE = "SELECT count(*), sum(n), md5(string_agg(code, ',' ORDER BY n)) FROM orders"
    const table = await psql('rds-sim3', TABLE)
    await sim('rds-sim3', ['run', '--rm', '-v', `${STACK}_uploads:/uploads`, 'debian:trixie-slim', 'sh', '-c', 'head -c 200000000 /dev/urandom > /uploads/lost.bin'])
    const writtenAt = new Date()
    const webFiles = async (node: SimNode) => (await sim(node, ['exec', await containerOf(node, `${STACK}_web`), 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html', '/srv/uploads'])).split('\n').filter((line) => !line.endsWith('.tmp')).join('\n')
    const files = await webFiles('rds-sim3')
    t.match(files, /\.\/lost\.bin$/m)
    await waitFor(`${LOSTDB}'s job`, async () => (await jobs()).some((job) => job.name === LOSTDB && job.node === 'rds-sim3') || undefined, 60)
    const dumped = await rds(['backup', '--service', LOSTDB])
    t.equal(dumped.exitCode, 0, dumped.stderr)
    // Backed up by hand: its schedule is RARE here.
    const webSaved = await rds(['backup', '--service', `${STACK}_web`])
    t.equal(webSaved.exitCode, 0, webSaved.stderr)
    t.ok(Date.parse((await snapshotsOf(`${STACK}_web`)).at(-1)?.time ?? '') > writtenAt.getTime(), 'a snapshot of web with the new file')
    const GLOBAL = 'rds-test-global'
    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', GLOBAL, '--mode', 'global', '--mount', `type=volume,src=${GLOBAL},dst=/data`, '--label', 'rds.backup=true',
      '--label', 'rds.backup.run-at=0 3 * * *', '--init', 'debian:trixie-slim', 'sh', '-c', 'hostname > /data/file; exec sleep infinity',
    ])
    const perNode = ['rds-sim1', 'rds-sim2', 'rds-sim3'].map((node) => `${GLOBAL}@${node}`)
    let tasksSeen = ''
    const watchTasks = setInterval(() => void sim('rds-sim1', ['service', 'ps', '--format', '{{.Node}} {{.CurrentState}} {{.Error}}', GLOBAL]).then((listed) => (tasksSeen = listed), () => undefined), 5000)
    t.teardown(() => clearInterval(watchTasks))
    const runnable = async () => (await jobs()).filter((job) => job.name.startsWith(`${GLOBAL}@`) && !job.unavailable).map((job) => job.name)
    let seen: unknown
    await waitFor('a job on each node', async () => {
      seen = (await jobs()).filter((job) => job.name.startsWith(GLOBAL))
      return JSON.stringify(await runnable()) === JSON.stringify(perNode) || undefined
    }, 180).catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(seen)}; ${GLOBAL}'s tasks: ${JSON.stringify(tasksSeen)}`)
    }).finally(() => clearInterval(watchTasks))
    const saved = await rds(['backup', '--service', GLOBAL])
    t.equal(saved.exitCode, 0, saved.stderr)
    t.same((await snapshotsOf(`${GLOBAL}@rds-sim3`)).length, 1, 'each node its own snapshot host')


    await sim('rds-sim1', [
      'service', 'create', '--detach', '--name', 'rds-test-down', '--constraint', 'node.hostname==rds-sim3', '--label', 'rds.backup=true',
      '--label', 'rds.backup.dump=sleep 600; echo never', '--label', 'rds.backup.run-at=0 3 * * *', '--init', 'debian:trixie-slim', 'sleep', 'infinity',
    ])
    await waitFor('the job to be known', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === 'rds-test-down' && job.node) || undefined, 60)
    const agent = await containerOf('rds-sim1', `${STACK}_agent`)
    const run = execa('docker', ['exec', agent, 'rds', 'backup', '--service', 'rds-test-down'], { env: nodeEnv('rds-sim1'), reject: false })
    let streamed = ''
    run.stderr!.on('data', (chunk: Buffer) => (streamed += chunk.toString()))
    await waitFor('the job running on rds-sim3', async () => (await sim('rds-sim3', ['ps', '-q', '-f', 'label=rds.job=rds-test-down', '-f', 'status=running'])).split('\n')[0] || undefined, 90)
    // Followed while it runs: what the job says is in the controller's log at once, not when its run is decided.
    await waitFor("the job's log, while it runs", async () => /rds-test-down: run: starting backup of a dump/.test(streamed) || undefined, 60)
    // The node's engine and everything in it die at once, as in a power cut: no task is told.
    const killedAt = Date.now()
    await execa('docker', ['kill', 'rds-sim3'])
    const ended = await waitFor('the run to be given up', async () => Promise.race([run, sleep(1000).then(() => undefined)]), 150)
    t.comment(`the run was given up ${((Date.now() - killedAt) / 1000).toFixed(0)} s after the node died`)
    t.equal(ended.exitCode, 1)
    t.match(ended.stderr, /controller: rds-test-down: the job did not finish: its node rds-sim3 is down \(.*\), so the backup there cannot finish/)
    t.match(ended.stderr, /rds-test-down: run: starting backup of a dump/, 'what the job said before its node died is not lost with the node')
    // Told at once, not at the next run due: a warning, and a failure of each job whose data is there (as notified).
    const told = await waitFor('the node down told', async () => /WARN +controller: node rds-sim3 went down: the data of (.*) on it cannot be backed up until the node is back\./.exec(await controllerLog())?.[1], 60)
    // backup_web too, if an earlier test left its task there.
    t.same(told.split(', ').filter((name) => name !== `${STACK}_web`).sort(), ['rds-test-down', `${GLOBAL}@rds-sim3`, LOSTDB].sort(), 'every job whose data is there, and no other node\'s')
    const status = JSON.parse((await rds(['status', '--json'])).stdout) as { jobs: Record<string, { lastAttempt?: { ok: boolean; message: string } }> }
    t.match(status.jobs[`${GLOBAL}@rds-sim3`]?.lastAttempt, { ok: false, message: /^node rds-sim3 went down/ })
    const listed = await rds(['jobs'])
    t.equal(listed.exitCode, 1, 'rds jobs fails while a job cannot run')
    t.match(listed.stdout, /^rds-test-global@rds-sim3: .* on rds-sim3, CANNOT RUN: node rds-sim3 is down, so the data of service rds-test-global on it cannot be backed up/m)
    const before = await newestSnapshot(`${STACK}_db`)
    await setSchedule(`${STACK}_db`, FREQUENT[`${STACK}_db`]!)
    await waitFor('a scheduled backup of backup_db on rds-sim2 after it', async () => (await newestSnapshot(`${STACK}_db`)) !== before || undefined, 90)
    await setSchedule(`${STACK}_db`, RARE)

    // The node lost: the plan first, changing nothing, then carried out as Restoring's "A lost node" writes it.
    const plan = await rds(['recover', '--node', 'rds-sim3', '--to', 'rds-sim2'])
    t.equal(plan.exitCode, 1, `a service cannot come back: ${plan.stderr}`)
    // Each with the room its snapshots need, and what the node has free (the nodes' survey).
    t.match(plan.stdout, /^ {2}backup_web: volumes from snapshot [0-9a-f]{8} of \S+ \(.+ old\) -> rds-sim2 \(2\d\d\.\d MiB to restore of [\d.]+ [GT]iB free\)$/m)
    t.match(plan.stdout, /^ {2}rds-test-global@rds-sim3: CANNOT: it runs on several nodes \(or every one\), each with data of its own/m)
    t.match(plan.stdout, /^ {2}rds-test-down: CANNOT: there is no accepted dump of host rds-test-down/m)
    t.match(plan.stdout, /^ {2}rds-test-lostdb: dump from snapshot [0-9a-f]{8} of \S+ \(.+ old\) -> rds-sim2 \([\d.]+ MiB to restore of [\d.]+ [GT]iB free\)$/m)
    t.match(plan.stdout, /^Nothing was changed; run this again with --yes to carry it out\.$/m)
    t.equal(JSON.parse(await sim('rds-sim1', ['service', 'inspect', `${STACK}_web`]))[0].Spec.Mode.Replicated.Replicas, 1, 'nothing changed')
    // Given up for lost: removed from the Swarm, its tasks' history with it.
    await sim('rds-sim1', ['node', 'rm', 'rds-sim3'])
    const [lostBlock] = await readmeShellBlocks('A lost node')
    const started = Date.now()
    const recovered = await execa('bash', ['-c', lostBlock!.replaceAll('worker-3', 'rds-sim3')], { env: nodeEnv('rds-sim1'), reject: false, all: true })
    t.comment(`rds recover --node rds-sim3 and --yes: ${((Date.now() - started) / 1000).toFixed(0)} s for a Postgres of 200,000 rows and ${(files.split('\n').length)} files of web (200 MB more)`)
    t.match(recovered.all, /^Recovered from rds-sim3:$/m)
    const movedTo = (name: string) => new RegExp(`^ {2}${name}: back on (rds-sim[12]), `, 'm').exec(recovered.all ?? '')?.[1] as SimNode
    t.match(recovered.all, /^ {2}backup_web: back on rds-sim[12], volumes from snapshot [0-9a-f]{8}/m)
    t.match(recovered.all, /^ {2}rds-test-lostdb: back on rds-sim[12], dump from snapshot [0-9a-f]{8}/m)
    const web = movedTo(`${STACK}_web`)
    const db = movedTo(LOSTDB)
    t.equal(await webFiles(web), files, "every file of web's volumes back, byte for byte (sha256), on a node that is up")
    t.equal(await psql(db, TABLE), table, 'the table back: its row count, sum and hash')
    for (const [name, node] of [[`${STACK}_web`, web], [LOSTDB, db]] as const) {
      const constraints = JSON.parse(await sim('rds-sim1', ['service', 'inspect', name]))[0].Spec.TaskTemplate.Placement.Constraints as string[]
      const id = (await sim('rds-sim1', ['node', 'inspect', '-f', '{{.ID}}', node])).trim()
      t.same(constraints, [`node.id == ${id}`], `${name} placed on ${node}, no longer on rds-sim3`)
    }

    // Back for the tear-down: the node joins the Swarm again, as a new node.
    await rejoinSwarm('rds-sim3')
    await waitFor('rds-sim3 to be ready again', async () => (await sim('rds-sim1', ['node', 'inspect', '-f', '{{.Status.State}}', 'rds-sim3'])).trim() === 'ready' || undefined, 180)
    await sim('rds-sim1', ['service', 'rm', 'rds-test-down'])
    // A new node of the old name: its task of the per-node service backed up anew.
    await waitFor('a job on each node again', async () => JSON.stringify(await runnable()) === JSON.stringify(perNode) || undefined, 90)
    const anew = await rds(['backup', '--service', GLOBAL])
    t.equal(anew.exitCode, 0, anew.stderr)

    // Its task leaves rds-sim3 for good: the job stays, and fails saying why, until it is forgotten.
    await sim('rds-sim1', ['service', 'update', '--detach', '--constraint-add', 'node.hostname!=rds-sim3', GLOBAL])
    await waitFor('the job of rds-sim3 without its task', async () => (await jobs()).find((job) => job.name === `${GLOBAL}@rds-sim3` && /has no running task on node rds-sim3/.test(job.unavailable ?? '')), 90)
    const refused = await rds(['backup', '--service', GLOBAL])
    t.equal(refused.exitCode, 1, 'the run of the left node fails')
    t.match(refused.stderr, /controller: rds-test-global@rds-sim3: service rds-test-global has no running task on node rds-sim3, so its data there is not backed up; start it there again, or end the job with rds jobs --forget rds-test-global@rds-sim3\./)
    t.equal((await rds(['jobs', '--forget', `${GLOBAL}@rds-sim3`])).exitCode, 0)
    await sim('rds-sim1', ['service', 'update', '--detach', '--label-add', 'rds.backup.run-at=0 4 * * *', GLOBAL])
    await waitFor('the forgotten job dropped', async () => !(await jobs()).some((job) => job.name === `${GLOBAL}@rds-sim3`) || undefined, 60)
    t.same((await jobs()).filter((job) => job.name.startsWith(GLOBAL)).map((job) => job.name), perNode.slice(0, 2))
    await sim('rds-sim1', ['service', 'rm', GLOBAL])
  })

  t.test("a whole stack comes back on a new Swarm that never ran it, from the repository alone, as Restoring's \"A whole stack on a new Swarm\" writes it: its site served, every file back", each(), async (t) => {
    const SITE = 'rds-test-site'
    const web = `${SITE}_web`
    const files = join(dir, 'site')
    await mkdir(files, { recursive: true })
    await writeFile(join(files, 'stack.yml'), [
      'version: "3.8"',
      'services:',
      '  web:',
      '    image: nginx:stable',
      '    volumes: [pages:/usr/share/nginx/html]',
      '    ports: [{ target: 80, published: 8080, mode: host }]',
      '    deploy:',
      '      labels: [rds.backup=true, rds.backup.run-at=0 0 1 1 *]',
      '      placement: { constraints: [node.hostname == rds-sim2] }',
      'volumes:',
      '  pages:',
      '',
    ].join('\n'))
    await execa('docker', ['stack', 'deploy', '-c', 'stack.yml', SITE], { cwd: files, env: nodeEnv('rds-sim1') })
    const pagesOf = async (node: SimNode) => sim(node, ['exec', await containerOf(node, web), 'sh', '-c', CHECKSUMS, 'checksums', '/usr/share/nginx/html'])
    await sim('rds-sim2', ['exec', await containerOf('rds-sim2', web), 'sh', '-c', 'cd /usr/share/nginx/html && mkdir img && echo "<h1>the site</h1>" > index.html && head -c 300000 /dev/urandom > img/photo.bin'])
    const pages = await pagesOf('rds-sim2')
    await waitFor('the site in rds jobs', async () => JSON.parse((await rds(['jobs', '--json'])).stdout).some((job: { name: string; node?: string }) => job.name === web && job.node === 'rds-sim2') || undefined, 60)
    const saved = await rds(['backup', '--service', web])
    t.equal(saved.exitCode, 0, saved.stderr)
    await sim('rds-sim1', ['stack', 'rm', SITE])

    // A new Swarm: rds-sim3 on its own, given the folder of secrets the quick start made and the server's volumes.
    await swarmOfItsOwn('rds-sim3')
    t.teardown(async () => {
      for (const stack of [SITE, STACK]) await sim('rds-sim3', ['stack', 'rm', stack]).catch(() => undefined)
      await waitFor("the new Swarm's containers gone", async () => (await sim('rds-sim3', ['ps', '-aq', '--filter', 'label=com.docker.swarm.service.id'])) === '' || undefined)
      await rejoinSwarm('rds-sim3')
    })
    t.equal(await sim('rds-sim3', ['volume', 'ls', '-q', '--filter', `name=${SITE}`]), '', 'the site never ran here')
    // Copied at rest, as from a backup of them: the first Swarm's server (and its maintenance) stopped meanwhile.
    await sim('rds-sim1', ['service', 'scale', '--detach=false', `${STACK}_server=0`])
    t.teardown(() => sim('rds-sim1', ['service', 'scale', '--detach=false', `${STACK}_server=1`]).catch(() => undefined))
    for (const volume of [`${STACK}_repositories`, `${STACK}_server-host-keys`]) {
      await execa('docker', ['run', '--rm', '-v', `${volume}:/from:ro`, 'debian:trixie-slim', 'tar', '-C', '/from', '-c', '.'], { env: nodeEnv('rds-sim1'), buffer: false })
        .pipe('docker', ['run', '--rm', '-i', '-v', `${volume}:/to`, 'debian:trixie-slim', 'tar', '-C', '/to', '-x'], { env: nodeEnv('rds-sim3'), buffer: false })
    }
    // The example stack's database names a secret of its own.
    await sim('rds-sim3', ['secret', 'create', 'db-password', '-'], 'unused')
    const [block] = await readmeShellBlocks('A whole stack on a new Swarm')
    const script = block!
      .replace('-c stack.yml backup', `-c ${join(ROOT, 'stack.yml')} -c ${join(ROOT, 'test/e2e/new-swarm.extra.yml')} backup`)
      .replace(/rds stack restore shop --to node-1$/m, `rds stack restore ${SITE} --to rds-sim3`)
    const ran = await execa('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: dir, reject: false, all: true, env: nodeEnv('rds-sim3') })
    t.equal(ran.exitCode, 0, ran.all)
    t.match(ran.all, new RegExp(`^ {2}${web}: on rds-sim3, volumes from snapshot [0-9a-f]{8} of \\S+$`, 'm'))
    const address = await nodeAddress('rds-sim3')
    const served = await waitFor('the site served on the new Swarm', async () => (await fetch(`http://${address}:8080/`)).text(), 60)
    t.equal(served, '<h1>the site</h1>\n', 'its site served')
    t.equal(await pagesOf('rds-sim3'), pages, 'every file of its volume back, byte for byte')
  })
}
