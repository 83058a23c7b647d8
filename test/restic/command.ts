import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { readConfig } from '../../lib/config/environment.js'
import { execa } from 'execa'
import { RunError } from '../../lib/errors.js'
import { serverRepository, urlRepository } from '../../lib/restic/repository.js'
import { checkResticVersion, readableResticLine, runRestic, type Restic } from '../../lib/restic/command.js'
import { RDS, RUNRESTIC } from '../fixtures/cli.js'
import { addRandomFiles } from '../fixtures/data.js'
import { serverWithRandomData } from '../fixtures/sftp-server.js'
import { captureLogger } from '../fixtures/log.js'

t.test("restic's JSON error lines read like its plain ones", async (t) => {
  t.equal(
    readableResticLine('{"message_type":"error","error":{"message":"open /backup/x: permission denied"},"during":"archival","item":"/backup/x"}'),
    'error: /backup/x: open /backup/x: permission denied',
  )
  t.equal(readableResticLine('{"message_type":"error","error":{"message":"boom"}}'), 'error: boom')
  t.equal(readableResticLine('{"message_type":"status"}'), '{"message_type":"status"}')
  t.equal(readableResticLine('{not json'), '{not json')
  t.equal(readableResticLine('Fatal: x'), 'Fatal: x')
  t.equal(readableResticLine('\u001b[2Ksignal terminated received, cleaning up'), 'signal terminated received, cleaning up', 'no terminal escapes')
  t.equal(
    readableResticLine('{"message_type":"exit_error","code":10,"message":"Fatal: repository does not exist: unable to open config file\\nIs there a repository at the following location?\\n/srv/x"}'),
    'Fatal: repository does not exist: unable to open config file Is there a repository at the following location? /srv/x',
  )
})

t.test('the installed restic is found and is new enough', async (t) => {
  t.match(await checkResticVersion('restic'), /^0\.(1[7-9]|[2-9]\d)\.\d+$/)
})

t.test('a restic that cannot be started is a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-restic-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const notExecutable = join(dir, 'restic')
  await writeFile(notExecutable, 'not a program', { mode: 0o644 })
  const repository = serverRepository(readConfig({ SSH_HOST: 'h', REPO_PATH: 'r' }), { alias: 'a', configFile: '/x' })
  const { log } = captureLogger()
  await t.rejects(runRestic({ binary: notExecutable, repository }, ['snapshots'], { log }), { name: 'RunError', message: /^restic snapshots could not be started: .*EACCES/ })
  await t.rejects(runRestic({ binary: join(dir, 'missing'), repository }, ['snapshots'], { log }), { name: 'ConfigError', message: /^restic was not found/ })
})

t.test('restic runs in a process group of its own: SIGTERM to the whole group of rds backup leaves no lock', async (t) => {
  const { server, data } = await serverWithRandomData(t, 30, 5_000_000)
  const env = server.env(data, { REPO_PATH: 'group' })
  const locks = () => readdir(join(server.home, 'group', 'locks')).catch(() => [] as string[])
  t.equal((await execa(process.execPath, [RUNRESTIC, 'init'], { env, extendEnv: false, reject: false })).exitCode, 0)
  // As `timeout`, `tini -g` and systemd do: the signal goes to every process of the group at once.
  const rds = execa(process.execPath, [RDS, 'backup'], { env, extendEnv: false, reject: false, detached: true })
  for (let i = 0; i < 300 && (await locks()).length === 0; i++) await sleep(20)
  t.ok((await locks()).length > 0, 'restic holds its lock')
  process.kill(-rds.pid!, 'SIGTERM')
  const result = await rds
  t.equal(result.exitCode, 130, result.stderr)
  t.match(result.stderr, /restic backup was interrupted before it finished/)
  t.same(await locks(), [], 'restic removed its lock through its ssh, which the group signal did not reach')
})

t.test('a restic killed by SIGKILL (as the OOM killer does) is reported as killed, not as interrupted', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'rds-killed-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  await addRandomFiles(data, 20, 5_000_000)
  const repository = urlRepository(join(data, '..', `${data.split('/').pop()}-repo`), data)
  await writeFile(join(data, 'password'), 'pw')
  const restic: Restic = { binary: 'restic', repository: { ...repository, passwordFile: join(data, 'password') } }
  const { log } = captureLogger()
  await runRestic(restic, ['init'], { log })
  t.teardown(() => rm(repository.url, { recursive: true, force: true }))
  const running = runRestic(restic, ['backup', data], { log }).catch((error) => error)
  let killed = false
  for (let i = 0; i < 200 && !killed; i++) {
    killed = (await execa('pkill', ['-KILL', '-f', `restic backup ${data}`], { reject: false })).exitCode === 0
    if (!killed) await sleep(20)
  }
  const error = await running
  t.type(error, RunError)
  t.match(error.message, /^restic backup was killed by SIGKILL \(the kernel does this when memory runs out: see "docker service ps" or dmesg\); its lock may be left in the repository\.$/)
  t.equal(error.exitCode, 1)
})
