import t from 'tap'
import { DEFAULTS, readConfig } from '../../lib/config/environment.js'

const base = { SSH_HOST: 'backup-server', REPO_PATH: 'myservice' }

const configError = (env: Record<string, string>, message: RegExp) =>
  t.throws(() => readConfig(env), { name: 'ConfigError', message, exitCode: 2 }, String(message))

t.test('the spec defaults apply when only SSH_HOST and REPO_PATH are set', async (t) => {
  const config = readConfig(base)
  t.equal(config.sshUser, 'restic')
  t.equal(config.sshHost, 'backup-server')
  t.equal(config.sshPort, 2222)
  t.equal(config.backupPath, '/backup')
  t.equal(config.repoPath, 'myservice')
  t.equal(config.sshPrivkeyFile, '/run/secrets/restic-ssh-privkey')
  t.equal(config.sshKnownHostsFile, '/run/secrets/restic-ssh-known-hosts')
  t.equal(config.passwordFile, '/run/secrets/restic-repo-password')
  t.equal(config.snapshotHost, DEFAULTS.snapshotHost)
  t.equal(config.resticBinary, 'restic')
  t.same(config.backupArgs, [])
  t.same(config.retention, { prune: false })
  t.equal(config.runAt, undefined)
  t.equal(config.hookTimeout, 3_600_000, 'HOOK_TIMEOUT 1h')
  t.equal(config.stallTimeout, 900_000, 'STALL_TIMEOUT 15m')
  t.equal(config.minFiles, 1)
  t.equal(config.maxShrink, 50)
  t.match(config.lockDir, /\/rds-locks$/)
})

t.test('the data-safety variables', async (t) => {
  const config = readConfig({ ...base, HOOK_TIMEOUT: '1h30m', STALL_TIMEOUT: '90s', MIN_FILES: '0', MAX_SHRINK: '100', LOCK_DIR: '/run/rds/locks' })
  t.equal(config.hookTimeout, 5_400_000)
  t.equal(config.stallTimeout, 90_000)
  t.equal(config.minFiles, 0)
  t.equal(config.maxShrink, 100)
  t.equal(config.lockDir, '/run/rds/locks')
  t.equal(readConfig({ ...base, HOOK_TIMEOUT: '45m' }).hookTimeout, 2_700_000)
  t.equal(readConfig(base).createRepository, 'auto')
  t.equal(readConfig({ ...base, CREATE_REPOSITORY: 'never' }).createRepository, 'never')
  t.equal(readConfig({ ...base, MODE: 'swarm' }).maxRunTime, 86_400_000, 'MAX_RUN_TIME: a day by default')
  t.equal(readConfig({ ...base, MODE: 'swarm', MAX_RUN_TIME: '6h' }).maxRunTime, 21_600_000)
  t.equal(readConfig({ ...base, MODE: 'swarm' }).pruneAt, '0 5 * * *', 'PRUNE_AT: 05:00 by default, after the night')
  t.equal(readConfig({ ...base, MODE: 'swarm', PRUNE_AT: '30 6 * * 0' }).pruneAt, '30 6 * * 0')
  t.throws(() => readConfig({ ...base, PRUNE_AT: '0 5 * * *' }), { message: /^PRUNE_AT is set but MODE is not swarm/ })
  t.throws(() => readConfig({ ...base, MODE: 'swarm', PRUNE_AT: 'nightly' }), { message: /^PRUNE_AT/ })
  t.equal(readConfig({ ...base, MODE: 'swarm' }).rehearseAt, undefined, 'REHEARSE_AT: no rehearsals unless asked')
  t.equal(readConfig({ ...base, MODE: 'swarm', REHEARSE_AT: '0 4 * * 6' }).rehearseAt, '0 4 * * 6')
  t.throws(() => readConfig({ ...base, REHEARSE_AT: '0 4 * * 6' }), { message: /^REHEARSE_AT is set but MODE is not swarm: a rehearsal deploys a copy of a whole stack/ })
  t.throws(() => readConfig({ ...base, MODE: 'swarm', REHEARSE_AT: 'weekly' }), { message: /^REHEARSE_AT/ })
  t.throws(() => readConfig({ ...base, MAX_RUN_TIME: '6h' }), { message: /^MAX_RUN_TIME is set but MODE is not swarm: it bounds the controller's jobs/ }, 'refused where it does not apply')
})

t.test('CONSOLE_PORT and CONSOLE_USERS_FILE: both or neither, and only with MODE=swarm', async () => {
  const swarm = { ...base, MODE: 'swarm' }
  t.equal(readConfig(swarm).console, undefined, 'off by default')
  t.same(readConfig({ ...swarm, CONSOLE_PORT: '8080', CONSOLE_USERS_FILE: '/run/secrets/console-users' }).console, { port: 8080, usersFile: '/run/secrets/console-users' })
  configError({ ...swarm, CONSOLE_PORT: '8080' }, /^CONSOLE_PORT is set but CONSOLE_USERS_FILE is not; nothing is shown without a login/)
  configError({ ...swarm, CONSOLE_USERS_FILE: '/u' }, /^CONSOLE_USERS_FILE is set but CONSOLE_PORT is not/)
  configError({ ...base, CONSOLE_PORT: '8080', CONSOLE_USERS_FILE: '/u' }, /^CONSOLE_PORT is set but MODE is not swarm/)
  configError({ ...swarm, CONSOLE_PORT: 'http', CONSOLE_USERS_FILE: '/u' }, /^CONSOLE_PORT must be a port number from 1 to 65535, not "http"/)
  configError({ ...base, CONSOLE_USERS_FILE: '/u' }, /^CONSOLE_USERS_FILE is set but MODE is not swarm/)
  configError({ ...swarm, CONSOLE_PORT: '9100', CONSOLE_USERS_FILE: '/u', METRICS_PORT: '9100', STATUS_FILE: '/s' }, /^CONSOLE_PORT and METRICS_PORT are both 9100; give the console a port of its own/)
})

t.test('every variable is read', async (t) => {
  const config = readConfig({
    SSH_HOST: 'backup@10.0.0.5',
    SSH_PORT: '22',
    BACKUP_PATH: '/data',
    REPO_PATH: '/srv/repos/db',
    SERVICE_NAME: 'app_db',
    PRE_HOOK: 'pg_dumpall -f /dump/all.sql',
    POST_HOOK: 'rm -f /dump/all.sql',
    RUN_AT: '0 3 * * *',
    SSH_PRIVKEY_FILE: '/keys/id',
    SSH_KNOWN_HOSTS_FILE: '/keys/known_hosts',
    RESTIC_REPO_PASSWORD_FILE: '/keys/password',
    BACKUP_ARGS: `--exclude '*.tmp' --exclude "cache dir" --tag nightly`,
    KEEP_LAST: '3',
    KEEP_DAILY: '7',
    KEEP_WEEKLY: '4',
    KEEP_MONTHLY: '-1',
    KEEP_WITHIN: '1y6m',
    PRUNE: 'yes',
    RETRY_LOCK: '5m',
    RESTIC_BINARY: '/opt/restic',
  })
  t.equal(config.sshUser, 'backup')
  t.equal(config.sshHost, '10.0.0.5')
  t.equal(config.sshPort, 22)
  t.equal(config.backupPath, '/data')
  t.equal(config.repoPath, '/srv/repos/db')
  t.equal(config.preHook, 'pg_dumpall -f /dump/all.sql')
  t.equal(config.postHook, 'rm -f /dump/all.sql')
  t.equal(config.runAt, '0 3 * * *')
  t.equal(config.snapshotHost, 'app_db', 'the snapshot host defaults to the service name')
  t.same(config.backupArgs, ['--exclude', '*.tmp', '--exclude', 'cache dir', '--tag', 'nightly'])
  t.same(config.retention, { last: 3, daily: 7, weekly: 4, monthly: -1, within: '1y6m', prune: true, hourly: undefined, yearly: undefined })
  t.equal(config.retryLock, '5m')
  t.equal(readConfig(base).retryLock, undefined, 'no RETRY_LOCK: restic fails at once on a locked repository')
  t.equal(readConfig({ ...base, MODE: 'swarm' }).retryLock, '30m', 'with MODE=swarm every command waits up to 30 minutes for another service\'s lock')
  t.equal(config.resticBinary, '/opt/restic')
  t.equal(readConfig({ ...base, SERVICE_NAME: 'app_db', SNAPSHOT_HOST: 'db-primary' }).snapshotHost, 'db-primary')
})

t.test('empty and blank variables count as unset', async (t) => {
  const config = readConfig({ ...base, SSH_PORT: '', RUN_AT: '  ', PRE_HOOK: '' })
  t.equal(config.sshPort, 2222)
  t.equal(config.runAt, undefined)
  t.equal(config.preHook, undefined)
})

t.test('bad input names the variable and says what to do', async () => {
  configError({ REPO_PATH: 'x' }, /^SSH_HOST is not set; set it to/)
  configError({ SSH_HOST: 'h' }, /^REPO_PATH is not set; set it to/)
  configError({ ...base, SSH_PORT: '70000' }, /^SSH_PORT must be a port number from 1 to 65535, not "70000"/)
  configError({ ...base, SSH_PORT: '22x' }, /^SSH_PORT must be a port number/)
  configError({ ...base, SSH_HOST: 'a b' }, /^SSH_HOST has an invalid host name "a b"/)
  configError({ ...base, SSH_HOST: '-oProxyCommand=x' }, /^SSH_HOST has an invalid host name/)
  configError({ ...base, SSH_HOST: 'bad user@h' }, /^SSH_HOST has an invalid user name "bad user"/)
  configError({ ...base, SSH_HOST: 'h\nProxyCommand evil' }, /^SSH_HOST contains a control character/)
  configError({ ...base, RUN_AT: 'every day' }, /^RUN_AT "every day" is not a valid cron expression/)
  configError({ ...base, RUN_AT: '61 * * * *' }, /^RUN_AT "61 \* \* \* \*" is not a valid cron expression/)
  configError({ ...base, RUN_AT: 'H(50-10) 3 * * *' }, /^RUN_AT "H\(50-10\) 3 \* \* \*" has the field "H\(50-10\)"; write H, H\(0-59\), H\/STEP or H\(FROM-TO\)\/STEP with FROM-TO within 0-59\.$/)
  configError({ ...base, RUN_AT: 'H 3 * *' }, /^RUN_AT "H 3 \* \*" has H but not five or six fields/)
  configError({ ...base, RUN_AT: '0 3 * * *', CHECK_AT: 'H 5 * * 0' }, /^CHECK_AT "H 5 \* \* 0" has an H field, which only a backup's schedule takes \(RUN_AT, rds\.backup\.run-at\); write the time here\.$/)
  configError({ ...base, PRE_HOOK: 'true' }, /^PRE_HOOK is set but SERVICE_NAME is not/)
  configError({ ...base, POST_HOOK: 'true' }, /^POST_HOOK is set but SERVICE_NAME is not/)
  configError({ ...base, BACKUP_PATH: 'backup' }, /^BACKUP_PATH must be an absolute path, not "backup"/)
  configError({ ...base, SSH_PRIVKEY_FILE: 'id' }, /^SSH_PRIVKEY_FILE must be an absolute path/)
  configError({ ...base, KEEP_DAILY: '0' }, /^KEEP_DAILY must be a whole number of snapshots to keep/)
  configError({ ...base, KEEP_LAST: 'three' }, /^KEEP_LAST must be a whole number/)
  configError({ ...base, KEEP_WITHIN: '30 days' }, /^KEEP_WITHIN must be a duration such as "30d"/)
  configError({ ...base, PRUNE: 'sometimes' }, /^PRUNE must be true or false, not "sometimes"/)
  configError({ ...base, RETRY_LOCK: 'forever' }, /^RETRY_LOCK must be a duration/)
  configError({ ...base, HOOK_TIMEOUT: '10 minutes' }, /^HOOK_TIMEOUT must be a duration such as "1h", "30m" or "90s", not "10 minutes"\.$/)
  configError({ ...base, HOOK_TIMEOUT: '0s' }, /^HOOK_TIMEOUT must be a duration/)
  configError({ ...base, STALL_TIMEOUT: '5' }, /^STALL_TIMEOUT must be a duration/)
  configError({ ...base, MIN_FILES: '-1' }, /^MIN_FILES must be a whole number of files \(0 accepts an empty backup\), not "-1"\.$/)
  configError({ ...base, MAX_SHRINK: '150' }, /^MAX_SHRINK must be a percentage from 0 to 100 \(100 accepts any shrink\), not "150"\.$/)
  configError({ ...base, MAX_SHRINK: '50%' }, /^MAX_SHRINK must be a percentage/)
  configError({ ...base, LOCK_DIR: 'locks' }, /^LOCK_DIR must be an absolute path/)
  configError({ ...base, BACKUP_ARGS: `--exclude '*.tmp` }, /^BACKUP_ARGS has a quote that is never closed \("--exclude '\*\.tmp"\); close it, or remove it\.$/)
  configError({ ...base, BACKUP_ARGS: `--exclude "a'b` }, /^BACKUP_ARGS has a quote that is never closed/)
})

t.test('cron expressions with seconds and nicknames are accepted', async (t) => {
  t.equal(readConfig({ ...base, RUN_AT: '*/10 * * * * *' }).runAt, '*/10 * * * * *')
  t.equal(readConfig({ ...base, RUN_AT: '@daily' }).runAt, '@daily')
  t.equal(readConfig({ ...base, RUN_AT: 'H H(1-5) * * *' }).runAt, 'H H(1-5) * * *', 'H is kept as written; each job spreads it')
})

t.test('RESTIC_REPOSITORY replaces the SFTP settings', async (t) => {
  const config = readConfig({ RESTIC_REPOSITORY: 's3:s3.amazonaws.com/bucket/db' })
  t.equal(config.resticRepository, 's3:s3.amazonaws.com/bucket/db')
  t.equal(config.sshHost, '')
  t.equal(config.repoPath, '')
})

t.test('COPY_TO needs its password file', async () => {
  configError({ ...base, COPY_TO: '/srv/second' }, /^COPY_TO is set but COPY_TO_PASSWORD_FILE is not/)
  t.same(readConfig({ ...base, COPY_TO: 's3:host/bucket', COPY_TO_PASSWORD_FILE: '/s/pw' }).copyTo, { url: 's3:host/bucket', passwordFile: '/s/pw' })
})

t.test('DUMP_COMMAND: a preset or a command, in SERVICE_NAME; with it, BACKUP_PATH is backed up only when set', async (t) => {
  const service = { ...base, SERVICE_NAME: 'app_db' }
  const preset = readConfig({ ...service, DUMP_COMMAND: 'postgres' })
  t.match(preset.dump, { preset: 'postgres', filename: 'pg_dumpall.sql', command: /pg_dumpall --clean --if-exists/ })
  t.equal(preset.backupFiles, false, 'only the dump')
  t.equal(readConfig({ ...service, DUMP_COMMAND: 'postgres', BACKUP_PATH: '/data' }).backupFiles, true, 'the dump and the files')
  t.same(readConfig({ ...service, DUMP_COMMAND: ' mongodump --archive ', DUMP_FILENAME: 'mongo.archive' }).dump, { command: 'mongodump --archive', filename: 'mongo.archive' })
  t.match(readConfig({ ...service, DUMP_COMMAND: 'mariadb' }).dump, { preset: 'mariadb', filename: 'all-databases.sql', command: /--single-transaction --all-databases/ })
  t.match(readConfig({ ...service, DUMP_COMMAND: 'redis' }).dump, { preset: 'redis', filename: 'dump.rdb' })
  t.equal(readConfig(base).backupFiles, true)
  t.equal(readConfig(base).stopDuringBackup, 'none')
  t.equal(readConfig({ ...service, STOP_DURING_BACKUP: 'pause' }).stopDuringBackup, 'pause')
  configError({ ...base, DUMP_COMMAND: 'postgres' }, /^DUMP_COMMAND is set but SERVICE_NAME is not; set SERVICE_NAME to the Swarm service/)
  configError({ ...service, DUMP_FILENAME: 'x.sql' }, /^DUMP_FILENAME is set but DUMP_COMMAND is not/)
  configError({ ...service, DUMP_COMMAND: 'postgres', DUMP_FILENAME: '../x.sql' }, /^DUMP_FILENAME must be a file name such as "app.sql"/)
  configError({ ...base, STOP_DURING_BACKUP: 'pause' }, /^STOP_DURING_BACKUP=pause is set but SERVICE_NAME is not/)
  configError({ ...service, STOP_DURING_BACKUP: 'scale' }, /^STOP_DURING_BACKUP=scale needs a Swarm manager; use the label rds\.backup\.stop=scale/)
  configError({ ...service, STOP_DURING_BACKUP: 'freeze' }, /^STOP_DURING_BACKUP must be "pause" .* or "none", not "freeze"\.$/)
})

t.test('SERVER_MODE: sftp by default; confined and append-only; retention refused on an append-only agent', async (t) => {
  t.equal(readConfig(base).serverMode, 'sftp')
  t.equal(readConfig({ ...base, SERVER_MODE: 'confined', KEEP_LAST: '3' }).serverMode, 'confined')
  t.same(readConfig({ ...base, SERVER_MODE: 'append-only' }).retention, { prune: false })
  configError({ ...base, SERVER_MODE: 'readonly' }, /^SERVER_MODE must be "sftp" \(the default\), "confined" or "append-only", as the server's authorized keys say for this agent's key, not "readonly"\.$/)
  configError({ ...base, SERVER_MODE: 'append-only', KEEP_DAILY: '7' }, /^KEEP_DAILY is set but SERVER_MODE=append-only: the server refuses every deletion from an append-only agent: forget and prune run on the server instead \(MAINTENANCE_AT and MAINTENANCE_FILE, see "Append-only backups" in docs\/server\.md\); unset KEEP_DAILY\.$/)
  configError({ ...base, SERVER_MODE: 'append-only', PRUNE: 'true' }, /^PRUNE is set but SERVER_MODE=append-only/)
  configError({ RESTIC_REPOSITORY: '/srv/repo', SERVER_MODE: 'confined' }, /^SERVER_MODE=confined is for the server image's SSH server \(SSH_HOST, REPO_PATH\); unset it, or unset RESTIC_REPOSITORY\.$/)
})

t.test('with MODE=swarm, what only a single agent reads is refused in one sentence, never ignored', async (t) => {
  const swarm = { ...base, MODE: 'swarm' }
  configError({ ...swarm, BACKUP_ARGS: '--exclude-caches' }, /^BACKUP_ARGS is set but MODE=swarm: a job's restic backup takes no extra arguments; use the labels \(rds\.backup\.exclude, rds\.backup\.volumes\); unset BACKUP_ARGS\.$/)
  configError({ ...swarm, COPY_TO: 'offsite', COPY_TO_PASSWORD_FILE: '/run/secrets/copy' }, /^COPY_TO_PASSWORD_FILE is set but MODE=swarm: COPY_TO names repositories of REPOSITORIES_FILE, whose sections give their password files; unset COPY_TO_PASSWORD_FILE\.$/)
  t.same(readConfig({ ...swarm, COPY_TO: 'offsite, archive' }).copyToRepositories, ['offsite', 'archive'], 'COPY_TO names the repositories every service is copied into')
  t.notOk(readConfig({ ...swarm, COPY_TO: 'offsite' }).copyTo)
  configError({ ...swarm, COPY_TO: 'rest:https://user:secret@host/' }, /^COPY_TO names repositories of REPOSITORIES_FILE, separated by commas, such as "offsite" or "offsite,archive", never a URL or a path; or it is "none" alone\.$/)
  configError({ ...swarm, COPY_TO: 'offsite,offsite' }, /^COPY_TO names offsite twice; name each repository once\.$/)
  configError({ ...swarm, RESTIC_REPOSITORY: 's3:https://s3.example.com/bucket' }, /^RESTIC_REPOSITORY is set but MODE=swarm: the controller's jobs write to the server at SSH_HOST/)
  configError({ ...swarm, PRE_HOOK: 'true', SERVICE_NAME: 'app' }, /^PRE_HOOK is set but MODE=swarm: each service has its own: the label rds\.backup\.pre-hook; unset PRE_HOOK\.$/)
  configError({ ...swarm, AWS_SECRET_ACCESS_KEY: 'k' }, /^AWS_SECRET_ACCESS_KEY is set but MODE=swarm: a backend's credentials would reach the controller's restic but not its jobs'; put them in REPOSITORIES_FILE, in the section of their repository, and unset AWS_SECRET_ACCESS_KEY\.$/)
  configError({ ...swarm, RESTIC_COMPRESSION: 'max' }, /^RESTIC_COMPRESSION is set but MODE=swarm: restic's own variables would reach the controller's restic but not its jobs'; unset RESTIC_COMPRESSION\.$/)
  t.equal(readConfig({ ...swarm, RESTIC_CACHE_DIR: '/var/cache/restic', RESTIC_BINARY: 'restic' }).mode, 'swarm', "the image's cache and rds's own RESTIC_BINARY are accepted")
  t.equal(readConfig({ ...base, BACKUP_ARGS: '--exclude-caches', RESTIC_COMPRESSION: 'max' }).mode, 'service', 'a single agent takes them')
})
