import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { keygen, useServerAndData, type SftpServer } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)
let server: SftpServer
let data: string
t.before(() => {
  ;({ server, data } = fixture)
})

const rds = (args: string[], env: Record<string, string>) => runBin(RDS, args, env)

t.test('help', async (t) => {
  const help = await rds(['--help'], {})
  t.equal(help.exitCode, 0)
  t.match(help.stdout, /Usage: rds \[options\] \[command\][\s\S]*agent[\s\S]*backup[\s\S]*Exit codes: 0 success/)
  t.match(help.stdout, /every labelled service of a Swarm \(MODE=swarm\), or one service[\s\S]*Back up:\n  agent[\s\S]*Restore:\n  restore [\s\S]*Inspect:\n  snapshots[\s\S]*Operate:\n  doctor[\s\S]*Server:\n  keygen/, 'the commands in groups, under a description of both modes')
  t.notMatch(help.stdout, /survey-volumes|dump-stream/, "the images' and jobs' own commands are not listed")
  const agentHelp = await rds(['agent', '--help'], {})
  t.equal(agentHelp.exitCode, 0)
  t.match(agentHelp.stdout, /--verbose[\s\S]*EXTRA_ARGS/)
  t.match((await rds(['backup', '--help'], {})).stdout, /take one backup now/)
  const copyHelp = (await rds(['copy', '--help'], {})).stdout.replace(/\s+/g, ' ')
  t.match(copyHelp, /--to <repository> the second repository: any restic repository URL \(required\) --to-password-file <file> [^(]* \(required\) --host <host> only this host's snapshots -h/, 'required options are marked, and only they')
  const version = await rds(['--version'], {})
  t.equal(version.exitCode, 0)
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/)
  const none = await rds([], {})
  t.equal(none.exitCode, 2)
  t.match(none.stdout, /Usage: rds/)
  const unknown = await rds(['bogus'], {})
  t.equal(unknown.exitCode, 2)
  t.match(unknown.stderr, /unknown command 'bogus'[\s\S]*rds --help/)
})

t.test('bad configuration: one sentence naming the variable, exit code 2, before anything runs', async (t) => {
  const env = server.env(data, { REPO_PATH: 'never-created' })
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['backup'], { ...env, SSH_HOST: '' }, /^rds: SSH_HOST is not set; set it to the SFTP server/],
    [['agent'], env, /^rds: RUN_AT is not set; set it to a cron expression/],
    [['agent'], { ...env, RUN_AT: '* * *' }, /^rds: RUN_AT "\* \* \*" is not a valid cron expression/],
    [['backup'], { ...env, SSH_PRIVKEY_FILE: '/nonexistent/key' }, /^rds: SSH_PRIVKEY_FILE is \/nonexistent\/key, which does not exist; create the SSH private key there/],
    [['backup'], { ...env, RESTIC_REPO_PASSWORD_FILE: '/nonexistent/pw' }, /^rds: RESTIC_REPO_PASSWORD_FILE is \/nonexistent\/pw, which does not exist/],
    [['backup'], { ...env, BACKUP_PATH: '/nonexistent/data' }, /^rds: BACKUP_PATH is \/nonexistent\/data, which does not exist; mount the volume/],
    [['backup'], { ...env, BACKUP_ARGS: `--exclude "*.tmp` }, /^rds: BACKUP_ARGS has a quote that is never closed/],
    [['agent'], { ...env, RUN_AT: '0 3 * * *', HOOK_TIMEOUT: 'soon' }, /^rds: HOOK_TIMEOUT must be a duration/],
    [['backup'], { ...env, RESTIC_BINARY: '/nonexistent/restic' }, /^rds: restic was not found \(RESTIC_BINARY is "\/nonexistent\/restic"\); install restic 0\.17 or newer/],
    [['backup'], { ...env, RESTIC_BINARY: '/bin/echo' }, /^rds: RESTIC_BINARY "\/bin\/echo" is not restic/],
    [['restore', '--service', 'app_db'], env, /^rds: --service needs MODE=swarm; run it in the controller's container \(docker exec\)\./],
    [['restore', '--target', '/tmp/x', '--at', '2026-12-01'], env, /^rds: --at chooses the snapshots of a service restored in place; give --service, or a snapshot ID\./],
    [['restore', '--target', '/tmp/x', '--to-node', 'node-2'], env, /^rds: --to-node names the node of --to-volume or --service; give one of them too\./],
    [['restore', '--target', '/tmp/x', '--path', '/a', '--exclude', '*.tmp'], env, /^rds: give --path or --exclude, not both/],
    [['restore', '--service', 'app_db', '--force'], { ...env, MODE: 'swarm' }, /^rds: --service restores the service's own volumes in place, with a safety snapshot: leave out --target/],
    [['restore', '--to-volume', 'v', '--delete', '--force'], env, /^rds: --delete applies to --target here/],
    [['hook', 'sideways'], env, /^rds: rds hook runs "pre" or "post", not "sideways"\./],
    [['hook', 'pre'], env, /^rds: PRE_HOOK is not set; set it to the command to run in the service's container\./],
    [['hook', 'post'], { ...env, POST_HOOK: 'true' }, /^rds: POST_HOOK is set but SERVICE_NAME is not/],
  ]
  for (const [args, caseEnv, message] of cases) {
    const result = await rds(args, caseEnv)
    t.equal(result.exitCode, 2, String(message))
    t.match(result.stderr, message)
    t.equal(result.stderr.trim().split('\n').length, 1, 'one line')
  }
  await t.rejects(readFile(join(server.home, 'never-created', 'config')), 'no repository was created')
})

t.test('a restic older than 0.17 is refused', async (t) => {
  // The old version cannot be installed beside 0.18, so a script answers "restic version" as it would.
  const dir = await mkdtemp(join(tmpdir(), 'rds-old-'))
  t.teardown(() => rm(dir, { recursive: true }))
  await writeFile(join(dir, 'restic'), '#!/bin/sh\necho "restic 0.14.0 compiled with go1.19.8 on linux/amd64"\n', { mode: 0o755 })
  const result = await rds(['backup'], server.env(data, { RESTIC_BINARY: join(dir, 'restic') }))
  t.equal(result.exitCode, 2)
  t.match(result.stderr, /^rds: restic 0\.14\.0 at RESTIC_BINARY ".*" is too old; install restic 0\.17 or newer\.\n$/)
})

t.test('ssh failures: host key mismatch, unknown host, refused key, unreachable server', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-ssh-fail-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const otherHostKey = (await keygen(join(dir, 'other_host'))).split(' ')
  const mismatch = join(dir, 'known_hosts_mismatch')
  await writeFile(mismatch, `[127.0.0.1]:${server.port} ${otherHostKey[0]} ${otherHostKey[1]}\n`)
  const unknown = join(dir, 'known_hosts_unknown')
  await writeFile(unknown, `[otherhost]:${server.port} ${otherHostKey[0]} ${otherHostKey[1]}\n`)
  const strangerKey = join(dir, 'id_stranger')
  await keygen(strangerKey)

  const cases: [Record<string, string>, RegExp][] = [
    [{ SSH_KNOWN_HOSTS_FILE: mismatch }, /presented a host key that does not match SSH_KNOWN_HOSTS_FILE \(.*known_hosts_mismatch\); refusing to connect/],
    [{ SSH_KNOWN_HOSTS_FILE: unknown }, /SSH_KNOWN_HOSTS_FILE \(.*known_hosts_unknown\) has no host key for the SSH server/],
    [{ SSH_PRIVKEY_FILE: strangerKey }, /refused the key in SSH_PRIVKEY_FILE \(.*id_stranger\); add its public key/],
    [{ SSH_PORT: String(server.port + 1 === 65536 ? 1 : server.port + 1) }, /cannot reach the SSH server .*Connection refused/],
  ]
  for (const [overrides, message] of cases) {
    const result = await rds(['backup'], server.env(data, { REPO_PATH: 'ssh-failures', ...overrides }))
    t.equal(result.exitCode, 1, String(message))
    t.match(result.stderr, message)
    t.match(result.stderr, /ERROR run: failed after/)
  }
  await t.rejects(readFile(join(server.home, 'ssh-failures', 'config')), 'nothing was created on the server')
})

t.test('a locked repository is exit code 11 with a message, and the backup itself is kept', async (t) => {
  const env = server.env(data, { REPO_PATH: 'locked', KEEP_LAST: '1' })
  t.equal((await rds(['backup'], env)).exitCode, 0)
  // restic backup --stdin holds its lock while it waits for input; forget needs an exclusive one.
  const holder = execa('restic', ['-r', `sftp:${server.user}@127.0.0.1:locked`, '-o', `sftp.args=-p ${server.port} -i ${server.privkeyFile} -o UserKnownHostsFile=${server.knownHostsFile}`, '--password-file', server.passwordFile, 'backup', '--stdin'], {
    env: { RESTIC_CACHE_DIR: join(server.dir, 'cache') },
    reject: false,
    stdin: 'pipe',
  })
  t.teardown(() => holder.kill())
  const lockDir = join(server.home, 'locked', 'locks')
  for (let i = 0; i < 100 && (await import('node:fs/promises').then((fs) => fs.readdir(lockDir))).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100))
  }
  const result = await rds(['backup'], env)
  holder.stdin?.end('done')
  await holder
  t.equal(result.exitCode, 11)
  t.match(result.stderr, /restic forget failed: the repository locked on .* is locked by another restic process; try again later/)
  t.match(result.stderr, /run: failed after .* \(snapshot [0-9a-f]{8} was saved\)/)
})

/** Wrappers that record what restic and ssh are started with (argv, and with `env` their environment), then run the real thing. */
async function recordingWrappers(dir: string, record: string, withEnvironment: boolean): Promise<void> {
  for (const name of ['restic', 'ssh']) {
    const real = (await execa('which', [name])).stdout
    await writeFile(join(dir, name), `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> ${record}\n${withEnvironment ? `env >> ${record}\n` : ''}exec ${real} "$@"\n`, { mode: 0o755 })
  }
}

t.test('no secret appears in any argv, environment or log', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-argv-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const record = join(dir, 'record')
  await recordingWrappers(dir, record, true)
  const key = await readFile(server.privkeyFile, 'utf8')
  const keyBody = key.split('\n').filter((line) => line && !line.startsWith('-----'))
  const env = server.env(data, { REPO_PATH: 'argv', PATH: `${dir}:${process.env.PATH}`, RESTIC_BINARY: join(dir, 'restic'), KEEP_LAST: '3' })
  const backup = await rds(['backup', '--verbose'], env)
  t.equal(backup.exitCode, 0)
  const recorded = await readFile(record, 'utf8')
  t.match(recorded, /^restic --option sftp\.args=-F \S+ssh_config backup/m)
  t.match(recorded, /^RESTIC_REPOSITORY=sftp:rds-repository-server:argv$/m, 'the repository reaches restic through its environment')
  t.match(recorded, /^ssh rds-repository-server -F \S+ssh_config -s sftp$/m, 'restic started ssh')
  for (const [what, secret] of [['password', server.password], ...keyBody.map((line, i) => [`key line ${i}`, line])] as [string, string][]) {
    t.notOk(recorded.includes(secret), `the ${what} is in no argv or environment`)
    t.notOk(backup.stderr.includes(secret) || backup.stdout.includes(secret), `the ${what} is not logged`)
  }
})

t.test('no repository URL, which may hold credentials, is in any argv: RESTIC_REPOSITORY, COPY_TO, rds copy, runrestic', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-url-argv-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const record = join(dir, 'record')
  await recordingWrappers(dir, record, false)
  // Local repositories stand in for rest:https://user:secret@host/ URLs: what matters is where the URL travels.
  const source = join(dir, 'source-s3cr3t')
  const copy = join(dir, 'copy-s3cr3t')
  const env = {
    ...server.env(data, { PATH: `${dir}:${process.env.PATH}`, RESTIC_BINARY: join(dir, 'restic'), KEEP_LAST: '3' }),
    RESTIC_REPOSITORY: source,
    COPY_TO: copy,
    COPY_TO_PASSWORD_FILE: server.passwordFile,
  }
  const backup = await rds(['backup'], env)
  t.equal(backup.exitCode, 0, backup.stderr)
  t.match(backup.stderr, /copy: done/)
  t.equal((await rds(['copy', '--to', join(dir, 'third-s3cr3t'), '--to-password-file', server.passwordFile], env)).exitCode, 0)
  t.equal((await runBin(RUNRESTIC, ['snapshots'], env)).exitCode, 0)
  const recorded = await readFile(record, 'utf8')
  t.match(recorded, /^restic backup /m)
  t.match(recorded, /^restic copy/m)
  t.match(recorded, /^restic forget /m)
  t.notMatch(recorded, /s3cr3t/, 'no repository URL in any argv')
  t.notMatch(recorded, /--repo|--from-repo/)
})

t.test('an unreadable file makes an incomplete snapshot: exit code 3, and no retention', { skip: process.getuid?.() !== 0 && 'needs root to run rds as another user' }, async (t) => {
  // rds runs as nobody, so that a file only root may read cannot be read, as in a real volume.
  const nobody = 65534
  const dir = await mkdtemp(join(tmpdir(), 'rds-nobody-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755)
  const secrets = join(dir, 'secrets')
  await mkdir(secrets)
  for (const [name, source] of [['key', server.privkeyFile], ['known_hosts', server.knownHostsFile], ['password', server.passwordFile]] as const) {
    await writeFile(join(secrets, name), await readFile(source), { mode: 0o400 })
    await chown(join(secrets, name), nobody, nobody)
  }
  const volume = join(dir, 'volume')
  await mkdir(volume)
  await writeFile(join(volume, 'readable.txt'), 'fine')
  await writeFile(join(volume, 'root-only.txt'), 'secret', { mode: 0o600 })
  await chown(volume, nobody, nobody)
  await chown(join(volume, 'readable.txt'), nobody, nobody)
  const env = server.env(volume, {
    REPO_PATH: 'incomplete',
    HOME: dir,
    RESTIC_CACHE_DIR: join(dir, 'cache'),
    TMPDIR: dir,
    SSH_PRIVKEY_FILE: join(secrets, 'key'),
    SSH_KNOWN_HOSTS_FILE: join(secrets, 'known_hosts'),
    RESTIC_REPO_PASSWORD_FILE: join(secrets, 'password'),
    KEEP_LAST: '1',
  })
  await chown(dir, nobody, nobody)
  const asNobody = (args: string[], overrides: Record<string, string> = {}) =>
    // Without tap's NODE_OPTIONS: its coverage recorder could not write its files as nobody.
    execa('env', ['-u', 'NODE_OPTIONS', process.execPath, RDS, ...args], { env: { ...env, ...overrides }, extendEnv: false, reject: false, uid: nobody, gid: nobody })

  const result = await asNobody(['backup'])
  t.equal(result.exitCode, 3)
  t.match(result.stderr, /root-only\.txt: .*permission denied/)
  t.match(result.stderr, /restic backup saved an incomplete snapshot: some files under the backup path could not be read/)
  t.match(result.stderr, /snapshot [0-9a-f]{8} was saved/)
  t.notMatch(result.stderr, /retention:/, 'an incomplete snapshot is no reason to forget complete ones')

  const closed = join(dir, 'closed')
  await mkdir(closed, { mode: 0o700 })
  await writeFile(join(closed, 'data.txt'), 'root only')
  const unreadableVolume = await asNobody(['backup'], { BACKUP_PATH: closed })
  t.equal(unreadableVolume.exitCode, 2)
  t.match(unreadableVolume.stderr, /^rds: BACKUP_PATH is .*closed, which this user \(uid 65534\) cannot read; every backup would be empty/)

  await chmod(join(secrets, 'password'), 0)
  const unreadable = await asNobody(['backup'])
  t.equal(unreadable.exitCode, 2)
  t.match(unreadable.stderr, /^rds: RESTIC_REPO_PASSWORD_FILE is .*password, which this user \(uid 65534\) cannot read; make the repository password readable to it\.$/)
})
