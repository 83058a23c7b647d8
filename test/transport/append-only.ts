// SERVER_MODE=append-only and confined against a real sshd whose key runs the server image's own
// forced command (images/server/rds-serve.sh), which runs the real rclone serving restic's REST
// protocol: backups and restores work; forget, deleting a snapshot and overwriting the config are
// refused and the repository checks clean after; a killed backup's lock is removed; the key reaches
// its own repository only, and only in its own mode.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { openWorkspace } from '../../lib/restic/workspace.js'
import type { Restic } from '../../lib/restic/command.js'
import { listLocks, removeLockFile } from '../../lib/restic/locks.js'
import { repositoryEnv, repositoryOptions, serveArgs } from '../../lib/restic/repository.js'
import { restRequest } from '../../lib/transport/rest-over-ssh.js'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { captureLogger } from '../fixtures/log.js'
import { makeDataTree } from '../fixtures/data.js'
import { rdsServeLine, startSftpServer, type SftpServer } from '../fixtures/sftp-server.js'
import { describeTree } from '../fixtures/tree.js'

t.setTimeout(5 * 60 * 1000)

async function appendOnlyServer(t: Test, mode: 'append-only' | 'confined' = 'append-only'): Promise<SftpServer> {
  const server = await startSftpServer({ keyLine: (publicKey, home) => rdsServeLine(home, mode, 'vault', publicKey) })
  t.teardown(() => server.stop())
  return server
}

t.test('an append-only agent backs up twice and restores; forget, deleting a snapshot and overwriting the config are refused; the repository checks clean', async (t) => {
  const server = await appendOnlyServer(t)
  const data = await makeDataTree()
  const env = server.env(data, { REPO_PATH: 'vault', SERVER_MODE: 'append-only' })
  for (const run of [1, 2]) {
    const backup = await runBin(RDS, ['backup'], env)
    t.equal(backup.exitCode, 0, `backup ${run}: ${backup.stderr}`)
  }
  t.equal((await readdir(join(server.home, 'vault', 'snapshots'))).length, 2, 'two snapshots on the server')
  const target = join(server.dir, 'restored')
  const restore = await runBin(RDS, ['restore', 'latest', '--target', target], env)
  t.equal(restore.exitCode, 0, restore.stderr)
  t.same(await describeTree(join(target, data)), await describeTree(data), 'the restore is identical')

  const forget = await runBin(RUNRESTIC, ['forget', '--keep-last', '1', '--prune'], env)
  t.equal(forget.exitCode, 2, 'runrestic refuses forget')
  for (const args of [['--retry-lock', '1m', 'forget', '--keep-last', '1'], ['-o', 'rclone.timeout=1m', '--no-cache', 'prune'], ['--json', '--', 'forget']]) {
    const refused = await runBin(RUNRESTIC, args, env)
    t.equal(refused.exitCode, 2, `runrestic refuses ${args.join(' ')}`)
    t.match(refused.stderr, /restic (forget|prune) cannot run here/)
  }
  t.match(forget.stderr, /restic forget cannot run here: the server refuses every deletion from an append-only agent: forget and prune run on the server instead \(MAINTENANCE_AT/)

  // restic itself, with the same key and transport: the server refuses every removal.
  const { log } = captureLogger()
  const workspace = await openWorkspace(env, log)
  t.teardown(() => workspace.close())
  const restic = (args: string[]) => execa('restic', [...repositoryOptions(workspace.repository), ...args], { env: repositoryEnv(workspace.repository), reject: false })
  const rawForget = await restic(['forget', '--keep-last', '1'])
  t.match(rawForget.stderr, /403 Forbidden/, "restic's own forget is refused by the server")
  t.equal((await readdir(join(server.home, 'vault', 'snapshots'))).length, 2, 'both snapshots are still there')

  const transport = workspace.repository.ssh!.transport
  const command = [...serveArgs('append-only'), 'vault']
  const [snapshot] = await readdir(join(server.home, 'vault', 'snapshots'))
  t.equal((await restRequest(transport, command, 'DELETE', `/snapshots/${snapshot}`)).status, 403, 'deleting a snapshot file: 403')
  const config = await readFile(join(server.home, 'vault', 'config'))
  t.equal((await restRequest(transport, command, 'POST', '/config', Buffer.from('overwritten'))).status, 403, 'overwriting the config: 403')
  t.same(await readFile(join(server.home, 'vault', 'config')), config, 'the config is unchanged')
  t.equal((await restRequest(transport, command, 'GET', '/../other/config')).status, 404, 'a path out of the repository is not found')
  const check = await restic(['check'])
  t.equal(check.exitCode, 0, `the repository checks clean: ${check.stderr}`)
  t.equal((await restic(['snapshots', '--json'])).exitCode, 0)
})

t.test('an emptied volume is rejected night after night although the server refuses the tag, and "latest" is the last accepted snapshot', async (t) => {
  const server = await appendOnlyServer(t)
  const data = await makeDataTree()
  const state = await mkdtemp(join(tmpdir(), 'rds-append-guard-'))
  t.teardown(() => rm(state, { recursive: true, force: true }))
  const env = server.env(data, { REPO_PATH: 'vault', SERVER_MODE: 'append-only', STATUS_FILE: join(state, 'status.json') })
  const good = await runBin(RDS, ['backup'], env)
  t.equal(good.exitCode, 0, good.stderr)
  const before = (await readdir(data)).length
  // Most of the volume lost, one small file left: MAX_SHRINK, not MIN_FILES, must catch it every night.
  for (const entry of await readdir(data)) await rm(join(data, entry), { recursive: true })
  await writeFile(join(data, 'left.txt'), 'what is left\n')
  const ids: string[] = []
  for (let night = 0; night < 2; night++) {
    const rejected = await runBin(RDS, ['backup'], env)
    t.equal(rejected.exitCode, 1, `night ${night + 1}: rejected`)
    t.match(rejected.stderr, /looks like a lost or emptied volume: it holds 1 files and .* less, more than MAX_SHRINK \(50 %\) allows/)
    ids.push(/guard: rejected snapshot ([0-9a-f]{64})/.exec(rejected.stderr)![1]!)
  }
  // restic tag writes a tagged copy and removes the original, which the server refuses: the original stays, untagged.
  const listed = JSON.parse((await runBin(RUNRESTIC, ['snapshots', '--json'], env)).stdout) as { id: string; tags?: string[] }[]
  t.same(ids.map((id) => listed.find((snapshot) => snapshot.id === id)?.tags ?? []), [[], []], 'the rejected snapshots are still there untagged')
  const status = JSON.parse(await readFile(join(state, 'status.json'), 'utf8'))
  t.same(status.jobs['restic-docker-swarm'].rejectedSnapshots, ids, 'the verdicts are kept in STATUS_FILE')
  const target = join(state, 'restored')
  const restore = await runBin(RDS, ['restore', 'latest', '--target', target], env)
  t.equal(restore.exitCode, 0, restore.stderr)
  t.equal((await readdir(join(target, data))).length, before, 'latest restores the last accepted snapshot, with its files')
  // A job of the controller has no STATUS_FILE of its own: the verdicts reach it in REJECTED_SNAPSHOTS.
  const job = await runBin(RDS, ['backup'], { ...env, STATUS_FILE: '', REJECTED_SNAPSHOTS: ids.join(',') })
  t.equal(job.exitCode, 1, 'rejected again: compared with the accepted snapshot, not the rejected ones')
  t.match(job.stderr, /looks like a lost or emptied volume: it holds 1 files/)
})

t.test("a backup killed with SIGKILL leaves its lock; restic's unlock and rds's own removal both work through an append-only key", async (t) => {
  const server = await appendOnlyServer(t)
  const env = server.env('/unused', { REPO_PATH: 'vault', SERVER_MODE: 'append-only' })
  const { log, text } = captureLogger()
  const workspace = await openWorkspace(env, log)
  t.teardown(() => workspace.close())
  const run = (args: string[], input?: string) => execa('restic', [...repositoryOptions(workspace.repository), ...args], { env: repositoryEnv(workspace.repository), input, reject: false })
  t.equal((await run(['init'])).exitCode, 0)
  const killedBackup = async () => {
    const backup = execa('restic', [...repositoryOptions(workspace.repository), 'backup', '--stdin-from-command', '--', 'sleep', '60'], { env: repositoryEnv(workspace.repository), reject: false })
    const lockDir = join(server.home, 'vault', 'locks')
    for (let i = 0; i < 100 && (await readdir(lockDir).catch(() => [])).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    backup.kill('SIGKILL')
    await backup
    t.equal((await readdir(lockDir)).length, 1, 'the killed backup left its lock')
  }
  const restic: Restic = { binary: 'restic', repository: workspace.repository }

  await killedBackup()
  t.equal((await run(['check'])).exitCode, 11, 'the lock holds check off')
  const [lock] = await listLocks(restic, log)
  await removeLockFile(restic, lock!)
  t.same(await readdir(join(server.home, 'vault', 'locks')), [], "rds's removal of a dead job's lock works")
  t.equal((await run(['check'])).exitCode, 0, 'check runs once the lock is gone')

  await killedBackup()
  const unlock = await runBin(RUNRESTIC, ['unlock'], env)
  t.equal(unlock.exitCode, 0, unlock.stderr)
  t.same(await readdir(join(server.home, 'vault', 'locks')), [], "restic's unlock removes the lock of a dead process on this host")
  t.notMatch(text(), /error/i)
})

t.test('a key confined to one repository reaches no other, and only in the mode the server gives it', async (t) => {
  const server = await appendOnlyServer(t)
  await execa('restic', ['init', '--repo', join(server.home, 'other'), '--password-file', server.passwordFile])
  const other = await runBin(RUNRESTIC, ['snapshots'], server.env('/unused', { REPO_PATH: 'other', SERVER_MODE: 'append-only' }))
  t.equal(other.exitCode, 1, 'refused')
  t.match(other.stderr, /rds-serve: this key reaches the repository vault only, not other; set REPO_PATH=vault on the agent/)
  const backup = await runBin(RDS, ['backup'], server.env(await makeDataTree(), { REPO_PATH: 'other', SERVER_MODE: 'append-only' }))
  t.equal(backup.exitCode, 1)
  t.match(backup.stderr, /refused: this key reaches the repository vault only, not other/, 'rds says why in one sentence')

  const confined = await runBin(RDS, ['backup'], server.env(await makeDataTree(), { REPO_PATH: 'vault', SERVER_MODE: 'confined' }))
  t.equal(confined.exitCode, 1, 'an agent that believes its key can delete is refused')
  t.match(confined.stderr, /this key is append-only on the server; set SERVER_MODE=append-only on the agent/)
  const sftp = await runBin(RUNRESTIC, ['snapshots'], server.env('/unused', { REPO_PATH: 'vault' }))
  t.not(sftp.exitCode, 0, 'SFTP with a confined key is refused')
})

t.test('a confined (read-write) key: retention runs on the agent, and the server lets it delete', async (t) => {
  const server = await appendOnlyServer(t, 'confined')
  const data = await makeDataTree()
  const env = server.env(data, { REPO_PATH: 'vault', SERVER_MODE: 'confined', KEEP_LAST: '1', PRUNE: 'true' })
  for (const run of [1, 2]) t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0, `backup ${run}`)
  t.equal((await readdir(join(server.home, 'vault', 'snapshots'))).length, 1, 'keep-last 1 removed the older snapshot')
  const appendOnly = await runBin(RDS, ['backup'], { ...env, KEEP_LAST: '', PRUNE: '', SERVER_MODE: 'append-only' })
  t.match(appendOnly.stderr, /this key is confined on the server; set SERVER_MODE=confined on the agent/, 'an agent that believes itself append-only, with a key that can delete, is refused')
  const other = await runBin(RUNRESTIC, ['snapshots'], server.env('/unused', { REPO_PATH: 'other', SERVER_MODE: 'confined' }))
  t.equal(other.exitCode, 1)
  t.match(other.stderr, /rds-serve: this key reaches the repository vault only, not other/, 'a confined key reaches no other repository either')
})
