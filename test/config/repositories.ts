import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { chosenRepository, copiesRetention, parseRepositories, readRepositories, repositorySection } from '../../lib/config/repositories.js'
import { readConfig } from '../../lib/config/environment.js'
import { labelDefaults } from '../../lib/swarm/label-defaults.js'

const FILE = [
  '# repositories',
  '[offsite]',
  'url = s3:https://s3.example.com/bucket/rds',
  'password-file = /run/secrets/offsite-password',
  'option = s3.connections=10',
  'AWS_ACCESS_KEY_ID = AKIAEXAMPLE',
  'AWS_SECRET_ACCESS_KEY = very-secret-key',
  'RESTIC_CACERT = /run/secrets/offsite-ca',
  '',
  '[b2]',
  'url = b2:bucket:rds',
  'password-file = /run/secrets/b2-password',
  'B2_ACCOUNT_ID = id',
  'B2_ACCOUNT_KEY = another-secret',
].join('\n')

t.test('each [name] is a repository: its URL, password file, options and the backend\'s variables', async (t) => {
  const parsed = parseRepositories(FILE, '/run/secrets/repositories')
  t.same([...parsed.keys()], ['offsite', 'b2'])
  t.same(parsed.get('offsite'), {
    name: 'offsite',
    url: 's3:https://s3.example.com/bucket/rds',
    passwordFile: '/run/secrets/offsite-password',
    options: ['s3.connections=10'],
    env: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'very-secret-key', RESTIC_CACERT: '/run/secrets/offsite-ca' },
  })
  t.same(parseRepositories(repositorySection(parsed.get('offsite')!), 'job'), new Map([['offsite', parsed.get('offsite')]]), "a job's section reads back the same")
  t.same(chosenRepository(parsed, 'b2', 'REPOSITORY_NAME').env, { B2_ACCOUNT_ID: 'id', B2_ACCOUNT_KEY: 'another-secret' })
  t.throws(() => chosenRepository(parsed, 'nas', 'REPOSITORY_NAME'), { message: 'REPOSITORY_NAME is "nas", which REPOSITORIES_FILE does not list (it lists offsite, b2); write one of its names, or add [nas] to it.' })
})

t.test('every mistake is refused with its line, and never quotes a value (they are secrets)', async (t) => {
  const cases: [string, RegExp][] = [
    ['[off site]\nurl = s3:x', /line 1 names a repository "off site"; a name is up to 30 letters, digits, "_" and "-"/],
    ['[a]\nurl = s3:x\npassword-file = /p\n[a]', /line 4 names the repository a a second time/],
    ['url = s3:x', /line 1 sets url before any \[name\]/],
    ['[a]\njust words', /line 2 is neither a \[name\] nor a "key = value" line/],
    ['[a]\nurl =', /line 2 gives url of a no value/],
    ['[a]\nurl = s3:x\nurl = s3:y', /line 3 sets url of a a second time; keep one/],
    ['[a]\nurl = s3:x\npassword-file = relative', /line 3: password-file of a must be an absolute path/],
    ['[a]\nurl = s3:x\npassword-file = /p\noption = connections', /line 4: an option of a is a restic extended option "backend\.name=value"/],
    ['[a]\nurl = s3:x\npassword-file = /p\nPASSWORD = very-secret-key', /line 4 sets PASSWORD of a, which is not url, password-file, option, keep-\* or prune \(of the copies made into it\), or a variable restic's backends read/],
    ['[a]\npassword-file = /p', /gives the repository a no url; add "url = \.\.\." to its section/],
    ['[a]\nurl = s3:x', /gives the repository a no password-file/],
    ['[a]\nurl = /srv/backups\npassword-file = /p', /gives a a url of a backend rds cannot hand its jobs \(s3:, b2:, azure:, gs:, swift:, rest: it can\); a local folder differs on every node, and sftp: and rclone: need a key or a program no job has\.$/],
    ['[a]\nurl = local:/srv\npassword-file = /p', /a url of a backend rds cannot hand its jobs/],
    ['[a]\nurl = sftp:user@host:/srv\npassword-file = /p', /a url of a backend rds cannot hand its jobs/],
    ['[a]\nurl = rclone:remote:path\npassword-file = /p', /a url of a backend rds cannot hand its jobs/],
    ['[a]\nurl = s3:x\npassword-file = /p\nAZURE_ACCOUNT_KEY: very-secret-key=x', /line 4 is neither a \[name\] nor a "key = value" line \(a key is letters, digits, "_" and "-", then "="\)/],
    ['[a]\nurl = s3:x\npassword-file = /p\nAWS_SECRET_ACCESS_KEY = "very-secret-key"', /line 4 gives AWS_SECRET_ACCESS_KEY of a a value in quotes, which would be taken with them; remove the quotes\./],
    [`[${'a'.repeat(31)}]`, /names a repository "a{31}"; a name is up to 30 letters/],
  ]
  for (const [text, message] of cases) {
    t.throws(() => parseRepositories(text, '/f'), { name: 'ConfigError', message }, text.split('\n').at(-1) ?? text)
    try {
      parseRepositories(text, '/f')
    } catch (error) {
      t.notMatch((error as Error).message, /very-secret-key|s3:x/, 'no value in the message')
    }
  }
})

t.test('readRepositories checks each password file and file variable, by its repository', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-repositories-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'repositories')
  await writeFile(join(dir, 'password'), 'pw')
  await writeFile(file, `[a]\nurl = rest:http://host/\npassword-file = ${join(dir, 'password')}\nRESTIC_CACERT = ${join(dir, 'missing-ca')}\n`)
  await t.rejects(readRepositories(file), { message: `RESTIC_CACERT of a in REPOSITORIES_FILE is ${join(dir, 'missing-ca')}, which does not exist; create the file there (usually as a Swarm secret) or point RESTIC_CACERT of a in REPOSITORIES_FILE at it.` })
  await writeFile(file, `[a]\nurl = rest:http://host/\npassword-file = ${join(dir, 'nothing')}\n`)
  await t.rejects(readRepositories(file), { message: /^the password-file of a in REPOSITORIES_FILE is .*nothing, which does not exist/ })
  await t.rejects(readRepositories(join(dir, 'absent')), { message: /^REPOSITORIES_FILE is .*absent, which does not exist; create the list of repositories there/ })
})

t.test('REPOSITORY_NAME and REPOSITORIES_FILE: with each other, never with RESTIC_REPOSITORY, SERVER_MODE or MODE=swarm', async (t) => {
  const env = { REPOSITORY_NAME: 'offsite', REPOSITORIES_FILE: '/run/secrets/repositories' }
  t.match(readConfig(env), { repositories: { file: '/run/secrets/repositories', name: 'offsite' }, repoPath: '', sshHost: '' }, 'no REPO_PATH or SSH_HOST needed')
  t.throws(() => readConfig({ REPOSITORY_NAME: 'offsite' }), { message: 'REPOSITORY_NAME is "offsite" but REPOSITORIES_FILE is not set; set it to the file that lists the repository (a secret).' })
  t.throws(() => readConfig({ REPOSITORIES_FILE: '/f', SSH_HOST: 'server', REPO_PATH: 'x' }), { message: /^REPOSITORIES_FILE is set but REPOSITORY_NAME is not/ })
  t.throws(() => readConfig({ ...env, RESTIC_REPOSITORY: 's3:x' }), { message: /^REPOSITORY_NAME and RESTIC_REPOSITORY are both set; keep one/ })
  t.throws(() => readConfig({ ...env, COPY_TO: 's3:elsewhere', COPY_TO_PASSWORD_FILE: '/p' }), { message: "COPY_TO is set with REPOSITORY_NAME: restic would hand the credentials of the repository to the copy's; unset COPY_TO." })
  t.throws(() => readConfig({ ...env, SERVER_MODE: 'append-only' }), { message: /^SERVER_MODE=append-only is for the server image's SSH server \(SSH_HOST, REPO_PATH\); unset it, or unset REPOSITORY_NAME\.$/ })
  t.throws(() => readConfig({ ...env, MODE: 'swarm', SSH_HOST: 'server', REPO_PATH: 'swarm' }), { message: /^REPOSITORY_NAME is set but MODE=swarm: the controller's default is the server at SSH_HOST/ })
  t.match(readConfig({ REPOSITORIES_FILE: '/f', MODE: 'swarm', SSH_HOST: 'server', REPO_PATH: 'swarm' }), { repositories: { file: '/f' } }, 'the controller reads the file alone')
})

t.test('a repository named as REPO_PATH is refused; a single agent needs only its own repository\'s files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-repositories-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'repositories')
  await writeFile(join(dir, 'password'), 'pw')
  await writeFile(file, `[swarm]\nurl = rest:http://host/\npassword-file = ${join(dir, 'password')}\n[other]\nurl = rest:http://other/\npassword-file = ${join(dir, 'not-given-to-this-agent')}\n`)
  t.same([...(await readRepositories(file, 'swarm')).keys()], ['swarm', 'other'], "REPOSITORY_NAME=swarm reads without the other's password file")
  await writeFile(join(dir, 'not-given-to-this-agent'), 'pw')
  const config = readConfig({ MODE: 'swarm', SSH_HOST: 'server', REPO_PATH: 'swarm', REPOSITORIES_FILE: file })
  await t.rejects(labelDefaults(config), { message: 'REPOSITORIES_FILE lists a repository named swarm, which is also REPO_PATH, the default repository on the server; rename the section.' })
})

t.test("COPY_TO (MODE=swarm) names repositories the file lists; the defaults say which pairs restic cannot copy between", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-copy-to-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'repositories')
  await writeFile(join(dir, 'password'), 'pw')
  const section = (name: string, url: string, more: string[]) => [`[${name}]`, `url = ${url}`, `password-file = ${join(dir, 'password')}`, ...more]
  await writeFile(file, [
    ...section('offsite', 's3:https://s3.example.com/one', ['AWS_ACCESS_KEY_ID = A', 'AWS_SECRET_ACCESS_KEY = x']),
    ...section('archive', 's3:https://s3.example.com/two', ['AWS_ACCESS_KEY_ID = B', 'AWS_SECRET_ACCESS_KEY = y']),
    ...section('nas', 'rest:http://nas:8000/', ['RESTIC_REST_USERNAME = rds']),
  ].join('\n'))
  const swarm = { MODE: 'swarm', SSH_HOST: 'server', REPO_PATH: 'swarm', REPOSITORIES_FILE: file }
  const defaults = await labelDefaults(readConfig({ ...swarm, COPY_TO: 'nas' }))
  t.same(defaults.copyTo, ['nas'])
  t.equal(defaults.copyClash!('offsite', 'archive'), 'AWS_ACCESS_KEY_ID', 'two S3 accounts: restic would use one for both')
  t.equal(defaults.copyClash!('offsite', 'nas'), undefined)
  t.equal(defaults.copyClash!('swarm', 'archive'), undefined, 'from the stack\'s server, into any')
  await t.rejects(labelDefaults(readConfig({ ...swarm, COPY_TO: 'nas,tape' })), { message: 'COPY_TO is "tape", which REPOSITORIES_FILE does not list (it lists offsite, archive, nas); write one of its names, or add [tape] to it.' })
  await t.rejects(labelDefaults(readConfig({ MODE: 'swarm', SSH_HOST: 'server', REPO_PATH: 'swarm', COPY_TO: 'nas' })), { message: /^COPY_TO is set but REPOSITORIES_FILE is not/ })
})

t.test("a section's keep-* and prune lines are the retention of the copies made into it", async (t) => {
  const parsed = parseRepositories('[archive]\nurl = s3:x\npassword-file = /p\nkeep-daily = 30\nkeep-within = 2y\nprune = true\n[nas]\nurl = rest:http://nas/\npassword-file = /q', '/f')
  t.match(parsed.get('archive')!.copyRetention, { daily: 30, within: '2y', prune: true })
  t.equal(parsed.get('nas')!.copyRetention, undefined, "none: the services' own")
  t.throws(() => parseRepositories('[archive]\nurl = s3:x\npassword-file = /p\nkeep-daily = many', '/f'), { message: /^keep-daily of archive in REPOSITORIES_FILE \(\/f\) must be/ })
  t.throws(() => parseRepositories('[archive]\nurl = s3:x\npassword-file = /p\nkeep-daily = 3\nkeep-daily = 4', '/f'), { message: 'REPOSITORIES_FILE (/f) line 5 sets keep-daily of archive a second time; keep one.' })
  t.throws(() => parseRepositories('[a]\nurl = rest:http://nas/x/\npassword-file = /p\n[b]\nurl = rest:http://nas/x\npassword-file = /q', '/f'), { message: 'REPOSITORIES_FILE (/f) gives b the url of a; list each repository once, under one name.' })
  const service = { daily: 7, prune: true }
  t.same(copiesRetention({ monthly: 60, prune: false }, service), { monthly: 60, prune: true }, "the section's keeps; pruned as the service is")
  t.same(copiesRetention({ prune: true }, { daily: 7, prune: false }), { daily: 7, prune: true }, "a section that says prune alone: the service's keeps, pruned")
  t.same(copiesRetention(undefined, service), service)
})
