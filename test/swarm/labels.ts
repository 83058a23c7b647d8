import t from 'tap'
import { optsOut, serviceBackup, type LabelDefaults } from '../../lib/swarm/labels.js'
import { jobEnvironment, needsDocker } from '../../lib/swarm/job-environment.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import type { LabelledService } from '../../lib/swarm/cluster.js'

const defaults: LabelDefaults = { runAt: '0 3 * * *', retention: { daily: 7, weekly: 4, prune: true }, repoPath: 'swarm', maxRunTime: 86_400_000 }

const service = (labels: { deploy?: Record<string, string>; container?: Record<string, string> }, volumes = ['app_data', 'app_uploads']): LabelledService => ({
  name: 'app_web',
  stack: 'app',
  serviceLabels: labels.deploy ?? {},
  containerLabels: labels.container ?? {},
  volumes,
  pinned: true,
})

t.test('a service without rds.backup=true has no backup, whatever else its labels say', async (t) => {
  t.equal(serviceBackup(service({}), defaults), undefined)
  t.equal(serviceBackup(service({ deploy: { 'rds.backup': 'false', 'rds.backup.run-at': '0 1 * * *' } }), defaults), undefined)
  t.equal(serviceBackup(service({ deploy: { 'com.example.other': 'x' } }), defaults), undefined)
})

t.test("rds.backup=true alone: every named volume it mounts, by its stack-file name, with the agent's defaults", async (t) => {
  t.same(serviceBackup(service({ deploy: { 'rds.backup': 'true' } }), defaults), {
    service: 'app_web',
    schedule: '0 3 * * *',
    volumes: [
      { name: 'data', source: 'app_data' },
      { name: 'uploads', source: 'app_uploads' },
    ],
    repoPath: 'swarm',
    hooks: { pre: undefined, post: undefined },
    restoreHooks: { pre: undefined, post: undefined },
    excludes: [],
    retention: { daily: 7, weekly: 4, prune: true },
    checkAt: undefined,
    overdueAfter: undefined,
    maxRunTime: 86_400_000,
  })
  // A volume the stack file names itself (name: or external) keeps its name.
  t.same(serviceBackup(service({ container: { 'rds.backup': 'true' } }, ['shared-media']), defaults)?.volumes, [{ name: 'shared-media', source: 'shared-media' }])
})

t.test('every label, from either place', async (t) => {
  const backup = serviceBackup(
    service({
      deploy: {
        'rds.backup': 'true',
        'rds.backup.run-at': '30 2 * * *',
        'rds.backup.volumes': 'uploads',
        'rds.backup.repo': 'app/web',
        'rds.backup.keep-last': '3',
        'rds.backup.keep-within': '1y6m',
        'rds.backup.max-run-time': '2h',
        'rds.backup.limit-upload': '2048',
      },
      container: {
        'rds.backup': 'true',
        'rds.backup.pre-hook': 'pg_dump -f /dump/db.sql',
        'rds.backup.post-hook': 'rm /dump/db.sql',
        'rds.backup.restore.post-hook': 'curl -fs localhost/health',
        'rds.backup.exclude': '*.tmp, cache/',
        'rds.backup.prune': 'false',
      },
    }),
    defaults,
  )
  t.same(backup, {
    service: 'app_web',
    schedule: '30 2 * * *',
    volumes: [{ name: 'uploads', source: 'app_uploads' }],
    repoPath: 'app/web',
    hooks: { pre: 'pg_dump -f /dump/db.sql', post: 'rm /dump/db.sql' },
    restoreHooks: { pre: undefined, post: 'curl -fs localhost/health' },
    excludes: ['*.tmp', 'cache/'],
    // The service's own keep-* labels are its whole policy: none of the agent's KEEP_* is mixed in.
    retention: { last: 3, hourly: undefined, daily: undefined, weekly: undefined, monthly: undefined, yearly: undefined, within: '1y6m', prune: false },
    maxRunTime: 7_200_000,
    bandwidth: { upload: 2048, download: undefined },
  })
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.max-run-time': 'forever' } }), defaults), {
    message: 'service app_web: label rds.backup.max-run-time must be a duration such as "1h", "30m" or "90s", not "forever".',
  })
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.limit-download': '0' } }), defaults), {
    message: 'service app_web: label rds.backup.limit-download must be a whole number of KiB/s from 1 to 10000000 (1024 is 1 MiB/s), not "0".',
  })
})

t.test('rds.backup.at, the original name, is accepted; both names with different schedules are not', async (t) => {
  t.equal(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.at': '0 4 * * *' } }), defaults)?.schedule, '0 4 * * *')
  t.equal(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.at': '0 4 * * *', 'rds.backup.run-at': '0 4 * * *' } }), defaults)?.schedule, '0 4 * * *')
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.at': '0 4 * * *', 'rds.backup.run-at': '0 5 * * *' } }), defaults), {
    name: 'ConfigError',
    message: 'service app_web: label rds.backup.run-at and rds.backup.at (its older name) are both set, to different schedules; keep one.',
  })
})

t.test('check-at and overdue-after: from the labels, else the agent\'s CHECK_AT and OVERDUE_AFTER', async (t) => {
  const own = serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.check-at': '0 5 * * 0', 'rds.backup.overdue-after': '26h' } }), defaults)
  t.match(own, { checkAt: '0 5 * * 0', overdueAfter: 26 * 3_600_000 })
  const inherited = serviceBackup(service({ deploy: { 'rds.backup': 'true' } }), { ...defaults, checkAt: '0 4 * * 0', overdueAfter: 3_600_000 })
  t.match(inherited, { checkAt: '0 4 * * 0', overdueAfter: 3_600_000 })
})

t.test('a bad label is one sentence naming the service, the label and the value', async (t) => {
  const cases: [Record<string, string>, Record<string, string>, string][] = [
    [{ 'rds.backup': 'yes please' }, {}, 'service app_web: label rds.backup must be true or false, not "yes please".'],
    [{ 'rds.backup': 'true', 'rds.backup.run-at': 'tomorrow' }, {}, 'service app_web: label rds.backup.run-at "tomorrow" is not a valid cron expression'],
    [{ 'rds.backup': 'true', 'rds.backup.keep-daily': 'seven' }, {}, 'service app_web: label rds.backup.keep-daily must be a whole number of snapshots to keep (or -1 for all), not "seven".'],
    [{ 'rds.backup': 'true', 'rds.backup.keep-within': '2 weeks' }, {}, 'service app_web: label rds.backup.keep-within must be a duration such as "30d" or "1y6m", not "2 weeks".'],
    [{ 'rds.backup': 'true', 'rds.backup.prune': 'maybe' }, {}, 'service app_web: label rds.backup.prune must be true or false, not "maybe".'],
    [{ 'rds.backup': 'true', 'rds.backup.keep-dayly': '7' }, {}, "service app_web: label rds.backup.keep-dayly is not a label rds knows; see docs/labels.md for the names."],
    [{ 'rds.backup': 'true', 'rds.backup.volumes': 'data,db' }, {}, 'service app_web: label rds.backup.volumes names "db", which the service does not mount (it mounts data, uploads); a service can only back up its own volumes.'],
    [{ 'rds.backup': 'true', 'rds.backup.volumes': ' , ' }, {}, 'service app_web: label rds.backup.volumes is empty'],
    [{ 'rds.backup': 'true', 'rds.backup.repo': '../other' }, {}, 'service app_web: label rds.backup.repo must be a path under the server\'s login directory such as "app/db" (letters, digits, "_", "." and "-"), not "../other".'],
    [{ 'rds.backup': 'true', 'rds.backup.repo': '/etc' }, {}, 'service app_web: label rds.backup.repo must be a path under'],
    [{ 'rds.backup': 'true', 'rds.backup.pre-hook': 'a\nb' }, {}, 'service app_web: label rds.backup.pre-hook contains a control character'],
    [{ 'rds.backup': 'true', 'rds.backup.check-at': 'weekly' }, {}, 'service app_web: label rds.backup.check-at "weekly" is not a valid cron expression'],
    [{ 'rds.backup': 'true', 'rds.backup.overdue-after': '2 days' }, {}, 'service app_web: label rds.backup.overdue-after must be a duration such as "1h", "30m" or "90s", not "2 days".'],
    [{ 'rds.backup': 'true', 'rds.backup.run-at': '0 1 * * *' }, { 'rds.backup.run-at': '0 2 * * *' }, 'service app_web: label rds.backup.run-at is "0 1 * * *" in deploy.labels but "0 2 * * *" in labels; set it in one place.'],
  ]
  for (const [deploy, container, message] of cases) {
    t.throws(() => serviceBackup(service({ deploy, container }), defaults), { name: 'ConfigError', message: new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) }, message)
  }
  // A command may hold a password inline: its two values are never quoted (the console shows label errors to read-only users).
  const hooks = { deploy: { 'rds.backup': 'true', 'rds.backup.pre-hook': 'PGPASSWORD=hunter2 psql -c checkpoint' }, container: { 'rds.backup.pre-hook': 'PGPASSWORD=hunter3 psql -c checkpoint' } }
  t.throws(() => serviceBackup(service(hooks), defaults), { message: 'service app_web: label rds.backup.pre-hook is set to one value in deploy.labels and another in labels; set it in one place.' })
  const mistyped = { deploy: { 'rds.backup': 'true', 'rds.backup.prehook': 'PGPASSWORD=hunter2 psql' }, container: { 'rds.backup.prehook': 'PGPASSWORD=hunter3 psql' } }
  for (const labels of [hooks, mistyped]) {
    try {
      serviceBackup(service(labels), defaults)
      t.fail('a label set to two values is refused')
    } catch (error) {
      t.notMatch((error as Error).message, /hunter/, `neither value in the error: ${(error as Error).message}`)
    }
  }
  // The same value in both places is no conflict.
  t.equal(serviceBackup(service({ deploy: { 'rds.backup': 'true' }, container: { 'rds.backup': 'true' } }), defaults)?.service, 'app_web')
})

t.test('no schedule anywhere, or no volume to back up, is an error that says what to set', async (t) => {
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true' } }), { ...defaults, runAt: undefined }), {
    message: 'service app_web: label rds.backup.run-at is not set and the agent has no RUN_AT; set the label to a cron expression such as "0 3 * * *", or RUN_AT on the agent for every service.',
  })
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true' } }, []), defaults), {
    message: 'service app_web: label rds.backup is true but the service mounts no named volume; mount one, or remove the label.',
  })
})

t.test("without keep-* labels the agent's policy applies, and rds.backup.prune alone changes only pruning", async (t) => {
  t.same(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.prune': 'false' } }), defaults)?.retention, { daily: 7, weekly: 4, prune: false })
})

t.test('rds.backup=false, in either place, says the service is left out on purpose', async (t) => {
  t.ok(optsOut(service({ deploy: { 'rds.backup': 'false' } })))
  t.ok(optsOut(service({ container: { 'rds.backup': 'no' } })))
  t.notOk(optsOut(service({ deploy: { 'rds.backup': 'true' } })))
  t.notOk(optsOut(service({})), 'no label says nothing')
})

t.test('rds.backup.dump: a preset or a command; a service with a dump backs up only the volumes it names', async (t) => {
  const dumped = serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.dump': 'postgres' } }), defaults)
  t.match(dumped, { dump: { preset: 'postgres', filename: 'pg_dumpall.sql' }, volumes: [] }, "a running database's files are no backup")
  t.match(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.dump': 'mysql', 'rds.backup.volumes': 'uploads' } }), defaults), {
    dump: { preset: 'mysql', filename: 'all-databases.sql' },
    volumes: [{ name: 'uploads', source: 'app_uploads' }],
  })
  t.same(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.dump': 'sqlite3 /data/app.db .dump', 'rds.backup.dump.filename': 'app.sql' } }), defaults)?.dump, {
    command: 'sqlite3 /data/app.db .dump',
    filename: 'app.sql',
  })
  t.match(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.dump': 'redis' } }, []), defaults), { dump: { preset: 'redis' }, volumes: [] }, 'no volume needed')
})

t.test('rds.backup.stop: scale or pause, refused where it cannot work', async (t) => {
  const labelled = (labels: Record<string, string>, volumes?: string[]) => serviceBackup(service({ deploy: { 'rds.backup': 'true', ...labels } }, volumes), defaults)
  t.equal(labelled({ 'rds.backup.stop': 'scale' })?.stop, 'scale')
  t.equal(labelled({ 'rds.backup.stop': 'pause', 'rds.backup.pre-hook': 'sync' })?.stop, 'pause')
  t.equal(labelled({ 'rds.backup.stop': 'none' })?.stop, undefined)
  const refused = (labels: Record<string, string>, message: RegExp, global = false) =>
    t.throws(() => serviceBackup({ ...service({ deploy: { 'rds.backup': 'true', ...labels } }), global }, defaults), { name: 'ConfigError', message }, String(message))
  refused({ 'rds.backup.stop': 'stop' }, /^service app_web: label rds\.backup\.stop must be "scale" .* or "none", not "stop"\.$/)
  refused({ 'rds.backup.stop': 'scale' }, /^service app_web: label rds\.backup\.stop=scale cannot stop a global service \(Swarm cannot scale one\); use rds\.backup\.stop=pause\.$/, true)
  t.equal(serviceBackup({ ...service({ deploy: { 'rds.backup': 'true', 'rds.backup.stop': 'pause' } }), global: true }, defaults)?.stop, 'pause', 'a global service can be paused')
  refused({ 'rds.backup.stop': 'scale', 'rds.backup.pre-hook': 'sync' }, /^service app_web: label rds\.backup\.stop=scale leaves no container to run rds\.backup\.pre-hook in; use rds\.backup\.stop=pause/)
  refused({ 'rds.backup.stop': 'scale', 'rds.backup.dump': 'postgres', 'rds.backup.volumes': 'data' }, /leaves no container to run rds\.backup\.dump in/)
  refused({ 'rds.backup.stop': 'pause', 'rds.backup.dump': 'postgres' }, /^service app_web: label rds\.backup\.stop=pause stops the service while its volumes are backed up, but with rds\.backup\.dump only the dump is/)
  const unpinned = { ...service({ deploy: { 'rds.backup': 'true', 'rds.backup.stop': 'scale' } }), pinned: false }
  t.throws(() => serviceBackup(unpinned, defaults), {
    message: 'service app_web: label rds.backup.stop=scale scales the service to 0 and back, and Swarm may then start it on another node, with a new, empty app_data: pin it to its node (deploy.placement.constraints: [node.hostname == NODE]), or use rds.backup.stop=pause.',
  })
  t.equal(serviceBackup({ ...unpinned, sharedVolumes: ['app_data', 'app_uploads'] }, defaults)?.stop, 'scale', 'volumes of a shared driver are the same on every node')
  refused({ 'rds.backup.dump.filename': 'x.sql' }, /^service app_web: label rds\.backup\.dump\.filename is set but rds\.backup\.dump is not/)
  refused({ 'rds.backup.dump': 'postgres', 'rds.backup.dump.filename': 'a/b.sql' }, /^service app_web: label rds\.backup\.dump\.filename must be a file name/)
})

t.test('with SERVER_MODE=append-only, a retention label is refused; with a confined key, another repository is', async (t) => {
  const appendOnly: LabelDefaults = { ...defaults, retention: { prune: false }, serverMode: 'append-only' }
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.keep-within': '30d' } }), appendOnly), {
    message: 'service app_web: label rds.backup.keep-within is set but the agent has SERVER_MODE=append-only: the server refuses every deletion from an append-only agent: forget and prune run on the server instead (MAINTENANCE_AT and MAINTENANCE_FILE, see "Append-only backups" in docs/server.md); remove the label.',
  })
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.prune': 'true' } }), appendOnly), { message: /label rds\.backup\.prune is set but the agent has SERVER_MODE=append-only/ })
  t.match(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.repo': 'swarm' } }), appendOnly), { repoPath: 'swarm', retention: { prune: false } }, 'its own repository, named, is fine')
  for (const serverMode of ['append-only', 'confined'] as const) {
    t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.repo': 'other' } }), { ...defaults, serverMode }), {
      message: `service app_web: label rds.backup.repo is "other", but the agent's key (SERVER_MODE=${serverMode}) reaches only its REPO_PATH "swarm"; remove the label, or back this service up with an agent whose key reaches other.`,
    })
  }
  t.match(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.repo': 'other', 'rds.backup.keep-last': '3' } }), { ...defaults, serverMode: 'sftp' }), { repoPath: 'other' }, 'SFTP reaches every repository')
})

t.test('rds.backup.repo chooses a repository of REPOSITORIES_FILE by its name, never by URL; with the file, a path on the server needs a folder', async (t) => {
  const named: LabelDefaults = { ...defaults, repositories: ['offsite', 'b2'] }
  const backup = (repo: string, more: Record<string, string> = {}, withDefaults = named) => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.repo': repo, ...more } }), withDefaults)
  t.match(backup('offsite'), { repoPath: 'offsite', named: true })
  t.match(backup('app/db'), { repoPath: 'app/db' }, 'a path on the stack\'s server')
  t.notOk(backup('app/db')!.named)
  t.match(backup('swarm'), { repoPath: 'swarm' }, 'REPO_PATH itself')
  t.throws(() => backup('ofsite'), { message: 'service app_web: label rds.backup.repo is "ofsite", which REPOSITORIES_FILE does not list (REPOSITORIES_FILE lists offsite, b2); write one of its names, or a path on the stack\'s server with a folder, such as "ofsite/data".' })
  for (const url of ['s3:https://s3.example.com/bucket', 'rest:http://host:8000/', 'sftp:user@host:/srv', 'https://host/x', '//host/x']) {
    t.throws(() => backup(url), { message: /^service app_web: label rds\.backup\.repo names a repository, never a URL; list the URL under a name in the controller's REPOSITORIES_FILE and write that name \(REPOSITORIES_FILE lists offsite, b2\)\.$/ }, url)
    t.throws(() => backup(url, {}, defaults), { message: /names a repository, never a URL; list the URL under a name in the controller's REPOSITORIES_FILE and write that name\.$/ }, `${url}, without the file`)
  }
  t.match(backup('ownrepo', {}, defaults), { repoPath: 'ownrepo' }, 'without the file, any path on the server, as before')
  t.throws(() => backup('offsite/db'), { message: 'service app_web: label rds.backup.repo is "offsite/db", a path on the stack\'s server under the name of a repository of REPOSITORIES_FILE; write the name alone (offsite) for that repository, or another path on the server.' })
  // The server's key has no say in a repository elsewhere: the controller's retention runs there.
  for (const serverMode of ['append-only', 'confined'] as const) {
    t.match(backup('offsite', { 'rds.backup.keep-last': '3' }, { ...named, serverMode }), { repoPath: 'offsite', retention: { last: 3 } }, serverMode)
  }
})

t.test('rds.backup.copy-to (else COPY_TO) names the repositories of REPOSITORIES_FILE its snapshots are copied into; never its own, a URL, or one restic cannot copy into from it', async (t) => {
  // offsite and b2 read different variables; archive and offsite would both be S3, with other keys.
  const clashes: Record<string, string> = { 'offsite>archive': 'AWS_ACCESS_KEY_ID' }
  const named: LabelDefaults = { ...defaults, repositories: ['offsite', 'b2', 'archive'], copyClash: (from, to) => clashes[`${from}>${to}`] }
  const backup = (labels: Record<string, string>, withDefaults = named) => serviceBackup(service({ deploy: { 'rds.backup': 'true', ...labels } }), withDefaults)
  t.match(backup({ 'rds.backup.copy-to': 'offsite, b2' }), { repoPath: 'swarm', copyTo: ['offsite', 'b2'] }, 'from the stack\'s server')
  t.match(backup({ 'rds.backup.repo': 'offsite', 'rds.backup.copy-to': 'b2' }), { repoPath: 'offsite', copyTo: ['b2'] }, 'from a repository of the file')
  t.notOk(backup({})!.copyTo, 'no copy unless asked')
  t.match(backup({}, { ...named, copyTo: ['offsite'] }), { copyTo: ['offsite'] }, "the controller's COPY_TO")
  t.notOk(backup({ 'rds.backup.copy-to': 'none' }, { ...named, copyTo: ['offsite'] })!.copyTo, 'none: no copy, whatever COPY_TO says')
  t.throws(() => backup({ 'rds.backup.copy-to': 'ofsite' }), { message: 'service app_web: label rds.backup.copy-to names ofsite, which REPOSITORIES_FILE does not list (it lists offsite, b2, archive); write one of its names, or add [ofsite] to it.' })
  t.throws(() => backup({ 'rds.backup.copy-to': 'offsite' }, defaults), { message: 'service app_web: label rds.backup.copy-to names offsite, which no REPOSITORIES_FILE of the controller lists; write one of its names, or add [offsite] to it.' })
  t.throws(() => backup({ 'rds.backup.copy-to': 's3:https://s3.example.com/bucket' }), { message: /^service app_web: label rds\.backup\.copy-to names repositories of REPOSITORIES_FILE, separated by commas, such as "offsite" or "offsite,archive", never a URL or a path; or it is "none" alone\.$/ })
  t.throws(() => backup({ 'rds.backup.repo': 'offsite', 'rds.backup.copy-to': 'offsite' }), { message: "service app_web: label rds.backup.copy-to names offsite, the service's own repository; a copy goes into another one: name another, or set rds.backup.copy-to to none." })
  t.match(backup({ 'rds.backup.repo': 'offsite' }, { ...named, copyTo: ['offsite', 'b2'] }), { repoPath: 'offsite', copyTo: ['b2'] }, "COPY_TO skips the service's own repository")
  t.notOk(backup({ 'rds.backup.repo': 'offsite' }, { ...named, copyTo: ['offsite'] })!.copyTo, 'and is then no copy at all')
  t.match(backup({ 'rds.backup.repo': 'offsite' }, { ...named, copyTo: ['archive'] }), {
    copyTo: ['archive'],
    copyRefused: { archive: "COPY_TO names archive, which sets AWS_ACCESS_KEY_ID otherwise than offsite, the service's repository, and restic reads one for both repositories of a copy; make them agree in REPOSITORIES_FILE, or copy into another repository (or set rds.backup.copy-to on this service)" },
  }, "a pair of COPY_TO restic cannot copy between: each copy fails with why, and the service's backups go on")
  t.throws(() => backup({ 'rds.backup.repo': 'offsite', 'rds.backup.copy-to': 'b2,archive' }), {
    message: 'service app_web: label rds.backup.copy-to names archive, which sets AWS_ACCESS_KEY_ID otherwise than offsite, the service\'s repository, and restic reads one for both repositories of a copy; make them agree in REPOSITORIES_FILE, or copy into another repository.',
  })
  t.throws(() => backup({ 'rds.backup.copy-to': 'b2,b2' }), { message: 'service app_web: label rds.backup.copy-to names b2 twice; name each repository once.' })
})

t.test('rds.backup.dump=sqlite: the database by its path in the container, found on the volume mounted there; the job reads it there, with no Docker socket', async (t) => {
  const app = (labels: Record<string, string>): LabelledService => ({
    ...service({ deploy: { 'rds.backup': 'true', 'rds.backup.dump': 'sqlite', ...labels } }),
    mountPoints: [
      { source: 'app_data', target: '/var/lib/app' },
      { source: 'app_uploads', target: '/var/lib/app/uploads/' },
    ],
  })
  const backup = serviceBackup(app({ 'rds.backup.dump.database': '/var/lib/app/db/app.sqlite3' }), defaults)
  t.match(backup, { dump: { preset: 'sqlite', filename: 'database.sql', database: '/var/lib/app/db/app.sqlite3' }, volumes: [], databaseVolume: { volume: { name: 'data', source: 'app_data' }, path: 'db/app.sqlite3' } })
  t.match(serviceBackup(app({ 'rds.backup.dump.database': '/var/lib/app/uploads/x.db' }), defaults), { databaseVolume: { volume: { source: 'app_uploads' }, path: 'x.db' } }, 'the deepest mount holds it')
  const env = jobEnvironment({ name: 'app_web', service: 'app_web', backup } as SwarmJob, ['SSH_HOST=server'])
  t.ok(env.includes('DUMP_COMMAND=sqlite') && env.includes('DUMP_DATABASE=/database/db/app.sqlite3'), env.join(' '))
  t.notOk(env.some((variable) => variable.startsWith('SERVICE_NAME=')), 'no container to exec into')
  t.notOk(needsDocker(backup!), 'so no Docker socket')
  t.ok(needsDocker(serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.dump': 'postgres' } }), defaults)!))

  t.throws(() => serviceBackup(app({}), defaults), /label rds\.backup\.dump is sqlite but rds\.backup\.dump\.database is not set; set it to the database file, such as \/data\/app\.db\./)
  t.throws(() => serviceBackup(app({ 'rds.backup.dump.database': '/srv/app.db' }), defaults), /label rds\.backup\.dump\.database is "\/srv\/app\.db", which is on no named volume of the service \(it mounts data at \/var\/lib\/app, uploads at \/var\/lib\/app\/uploads\/\); rds reads the database in its volume, so keep it on one\./)
  t.throws(() => serviceBackup(app({ 'rds.backup.dump.database': '/var/lib/app' }), defaults), /which is on no named volume/, 'the mount point itself is no file in it')
  t.throws(() => serviceBackup(app({ 'rds.backup.dump.database': 'app.db' }), defaults), /rds\.backup\.dump\.database must be the absolute path of the database file/)
  t.throws(() => serviceBackup(app({ 'rds.backup.dump': 'postgres', 'rds.backup.dump.database': '/var/lib/app/x.db' }), defaults), /rds\.backup\.dump\.database is set but rds\.backup\.dump is not sqlite; remove it/)
  t.throws(() => serviceBackup(service({ deploy: { 'rds.backup': 'true', 'rds.backup.dump.database': '/x.db' } }), defaults), /rds\.backup\.dump\.database is set but rds\.backup\.dump is not; set rds\.backup\.dump to postgres, mysql, mariadb, redis, sqlite or a command/)
})
