import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { runJob, type RunContext } from '../../lib/run/run.js'
import { formatBytes } from '../../lib/restic/backup-summary.js'
import type { HookEngine } from '../../lib/docker/engine.js'
import { jobFromConfig } from '../../lib/run/job.js'
import { repositoryEnv, repositoryOptions } from '../../lib/restic/repository.js'
import { openWorkspace } from '../../lib/restic/workspace.js'
import { addRandomFiles, makeDataTree } from '../fixtures/data.js'
import { captureLogger } from '../fixtures/log.js'
import { startSftpServer, type SftpServer } from '../fixtures/sftp-server.js'
import { describeTree } from '../fixtures/tree.js'

let server: SftpServer
t.before(async () => {
  server = await startSftpServer()
})
t.teardown(() => server.stop())

async function setup(t: Test, env: Record<string, string> = {}, data?: string) {
  const backupPath = data ?? (await makeDataTree())
  if (!data) t.teardown(() => rm(backupPath, { recursive: true, force: true }))
  const { log, text } = captureLogger(true)
  const workspace = await openWorkspace(server.env(backupPath, env), log)
  t.teardown(() => workspace.close())
  const job = jobFromConfig(workspace.config, workspace.repository)
  const noEngine = () => {
    throw new Error('this job has no hooks')
  }
  const lockDir = join(server.dir, 'locks')
  const context = (engine: () => HookEngine = noEngine): RunContext => ({ resticBinary: 'restic', log, engine, lockDir })
  /** restic with the repository's arguments, outside the code under test. */
  const restic = (args: string[]) =>
    execa('restic', [...repositoryOptions(workspace.repository), ...args], { env: { RESTIC_CACHE_DIR: join(server.dir, 'cache'), ...repositoryEnv(workspace.repository) } })
  return { backupPath, job, context, restic, text }
}

async function snapshots(restic: (args: string[]) => Promise<{ stdout: string }>, host?: string) {
  const list = JSON.parse((await restic(['snapshots', '--json', ...(host ? ['--host', host] : [])])).stdout) as { id: string; hostname: string }[]
  return list
}

t.test('backup then restore gives identical bytes, modes, times, links and empty folders', async (t) => {
  const { backupPath, job, context, restic } = await setup(t, { REPO_PATH: 'restore-test' })
  const result = await runJob(job, context())
  t.equal(result.exitCode, 0)
  t.match(result.summary, { snapshot_id: /^[0-9a-f]{64}$/, files_changed: 0 })
  t.ok((result.summary?.files_new ?? 0) >= 5, 'every file is new')
  const target = await mkdtemp(join(tmpdir(), 'rds-restore-'))
  t.teardown(() => rm(target, { recursive: true, force: true }))
  await restic(['restore', 'latest', '--target', target])
  const original = await describeTree(backupPath)
  const restored = await describeTree(join(target, backupPath))
  t.same(restored, original)
  t.equal((await stat(join(target, backupPath, 'blob-hardlink.bin'))).ino, (await stat(join(target, backupPath, 'db', 'blob.bin'))).ino, 'the hard link is one file again')
  t.ok((await stat(join(server.home, 'restore-test', 'config'))).isFile(), 'the repository is under the SFTP start directory')
})

t.test('the repository is created on the first run only, and a second backup is incremental', async (t) => {
  const { backupPath, job, context, restic, text } = await setup(t, { REPO_PATH: 'incremental' })
  await addRandomFiles(join(backupPath, 'bulk'), 20, 200_000)
  const first = await runJob(job, context())
  t.equal(first.exitCode, 0)
  t.equal(text().match(/repository: none at .* yet, creating it/g)?.length, 1)
  const firstAdded = first.summary?.data_added ?? 0
  t.ok(firstAdded > 4_000_000, `the first backup adds everything (${formatBytes(firstAdded)})`)

  await appendFile(join(backupPath, 'db', 'dump.sql'), 'INSERT INTO t VALUES (1);\n')
  const second = await runJob(job, context())
  t.equal(second.exitCode, 0)
  t.equal(text().match(/creating it/g)?.length, 1, 'the existing repository is not created again')
  t.equal(second.summary?.files_changed, 1)
  t.equal(second.summary?.files_new, 0)
  const secondAdded = second.summary?.data_added ?? Infinity
  t.ok(secondAdded < firstAdded / 10, `the second backup adds little (${formatBytes(secondAdded)} against ${formatBytes(firstAdded)})`)
  t.equal((await snapshots(restic)).length, 2)
})

t.test('retention forgets what the policy says, for this host only, and prunes when asked', async (t) => {
  const { job, context, restic, text } = await setup(t, { REPO_PATH: 'retention', KEEP_LAST: '2', PRUNE: 'true', SNAPSHOT_HOST: 'agent-a' })
  t.equal((await runJob(job, context())).exitCode, 0)
  // Another agent's snapshot in the same repository must survive this agent's policy.
  await restic(['backup', '--host', 'agent-b', server.dir + '/authorized_keys'])
  t.equal((await runJob(job, context())).exitCode, 0)
  t.equal((await runJob(job, context())).exitCode, 0)
  t.equal((await snapshots(restic, 'agent-a')).length, 2, 'KEEP_LAST=2 keeps two')
  t.equal((await snapshots(restic, 'agent-b')).length, 1, 'the other host is untouched')
  t.match(text(), /retention: --host agent-a --group-by host,paths,tags --keep-last 2 --prune/)
  t.match(text(), /restic: .*remove 1 snapshots/i)
})

t.test('no retention variables: nothing is forgotten', async (t) => {
  const { job, context, restic, text } = await setup(t, { REPO_PATH: 'keep-all' })
  for (let i = 0; i < 3; i++) t.equal((await runJob(job, context())).exitCode, 0)
  t.equal((await snapshots(restic)).length, 3)
  t.notMatch(text(), /retention:/)
})

t.test('hooks run in order around the backup; the post-hook learns the outcome', async (t) => {
  const calls: string[] = []
  const engine: HookEngine = {
    serviceContainers: async () => ({ node: 'node', containers: [{ taskId: 'task', containerId: 'c' }] }),
    pause: async () => undefined,
    unpause: async () => undefined,
    exec: async (_id, argv, env) => {
      calls.push(`${argv[2]} ${env.join(' ')}`)
      return argv[2] === 'fail' ? 1 : 0
    },
  }
  const good = await setup(t, { REPO_PATH: 'hooks', SERVICE_NAME: 'app_db', PRE_HOOK: 'dump', POST_HOOK: 'cleanup', KEEP_LAST: '5' })
  const result = await runJob(good.job, good.context(() => engine))
  t.equal(result.exitCode, 0)
  t.match(calls, [/^dump RDS_RUN_STATUS=success RDS_SNAPSHOT_ID=$/, new RegExp(`^cleanup RDS_RUN_STATUS=success RDS_SNAPSHOT_ID=${result.summary?.snapshot_id}$`)])
  const order = good.text().split('\n').map((l) => /(pre-hook: running|creating it|backup: snapshot|post-hook: running|retention: --)/.exec(l)?.[1]).filter(Boolean)
  t.same(order, ['pre-hook: running', 'creating it', 'backup: snapshot', 'post-hook: running', 'retention: --'])

  calls.length = 0
  const bad = await setup(t, { REPO_PATH: 'hooks', SERVICE_NAME: 'app_db', PRE_HOOK: 'fail', POST_HOOK: 'cleanup', KEEP_LAST: '5' })
  const failed = await runJob(bad.job, bad.context(() => engine))
  t.equal(failed.exitCode, 1)
  t.equal(failed.error?.message, 'pre-hook (PRE_HOOK) exited with code 1 in service app_db.')
  t.same(calls, ['fail RDS_RUN_STATUS=success RDS_SNAPSHOT_ID=', 'cleanup RDS_RUN_STATUS=failure RDS_SNAPSHOT_ID='], 'the post-hook still runs, told the run failed')
  t.notMatch(bad.text(), /backup: snapshot|retention: --/, 'no backup and no retention after a failed pre-hook')
  t.match(bad.text(), /ERROR run: failed after/)
  t.equal((await snapshots(bad.restic)).length, 1, 'only the good run made a snapshot')
  t.notMatch(good.text() + bad.text(), /the backup is complete and accepted; the run fails/, 'said only of a run that fails after its backup')

  const late = await setup(t, { REPO_PATH: 'post-hook', SERVICE_NAME: 'app_db', POST_HOOK: 'fail', KEEP_LAST: '1' })
  t.equal((await runJob(late.job, late.context(() => engine))).exitCode, 1, 'a failing post-hook fails the run')
  t.equal((await runJob(late.job, late.context(() => engine))).exitCode, 1, 'every time')
  t.match(late.text(), /WARN  run: the backup is complete and accepted; the run fails for what came after it[\s\S]*retention: --/, 'said, for the controller, and retention still runs')
  t.equal((await snapshots(late.restic)).length, 1, 'keep-last 1')
})

t.test('a pre-hook that outlives HOOK_TIMEOUT fails the run; the post-hook still runs, and no backup is taken', async (t) => {
  const calls: string[] = []
  // The engine stops a command when asked, as lib/docker/engine.ts does (tested there against a real Swarm).
  const engine: HookEngine = {
    serviceContainers: async () => ({ node: 'node', containers: [{ taskId: 'task', containerId: 'c' }] }),
    pause: async () => undefined,
    unpause: async () => undefined,
    exec: async (_id, argv, env, _onLine, signal) => {
      calls.push(`${argv[2]} ${env[0]}`)
      if (argv[2] !== 'hang') return 0
      await new Promise((resolve) => signal?.addEventListener('abort', resolve))
      return undefined
    },
  }
  const hung = await setup(t, { REPO_PATH: 'hook-timeout', SERVICE_NAME: 'app_db', PRE_HOOK: 'hang', POST_HOOK: 'cleanup', HOOK_TIMEOUT: '1s' })
  const result = await runJob(hung.job, hung.context(() => engine))
  t.equal(result.exitCode, 1)
  t.equal(result.error?.message, 'pre-hook (PRE_HOOK) did not finish within HOOK_TIMEOUT (1 s) in service app_db and was stopped; raise HOOK_TIMEOUT or find what it waits for.')
  t.same(calls, ['hang RDS_RUN_STATUS=success', 'cleanup RDS_RUN_STATUS=failure'])
  t.notMatch(hung.text(), /backup: snapshot/)
})

t.test('a wrong password is exit code 12 and never re-creates the repository', async (t) => {
  const first = await setup(t, { REPO_PATH: 'password' })
  t.equal((await runJob(first.job, first.context())).exitCode, 0)
  const configBefore = await readFile(join(server.home, 'password', 'config'))
  const wrong = join(server.dir, 'wrong-password')
  await writeFile(wrong, 'not the password\n')
  const second = await setup(t, { REPO_PATH: 'password', RESTIC_REPO_PASSWORD_FILE: wrong })
  const result = await runJob(second.job, second.context())
  t.equal(result.exitCode, 12)
  t.match(result.error?.message, /the password in RESTIC_REPO_PASSWORD_FILE \(.*wrong-password\) is wrong for the repository password on /)
  t.notMatch(second.text(), /creating it/)
  t.same(await readFile(join(server.home, 'password', 'config')), configBefore, 'the repository is untouched')
})

t.test('COPY_TO: each complete backup is copied to a second repository', async (t) => {
  const second = await mkdtemp(join(tmpdir(), 'rds-copy-to-'))
  t.teardown(() => rm(second, { recursive: true, force: true }))
  const passwordFile = join(second, 'password')
  await writeFile(passwordFile, 'second\n')
  const { job, context, text } = await setup(t, { REPO_PATH: 'copy-to', SNAPSHOT_HOST: 'copied', COPY_TO: join(second, 'repo'), COPY_TO_PASSWORD_FILE: passwordFile })
  const result = await runJob(job, context())
  t.equal(result.exitCode, 0)
  t.match(text(), /copy: .* to .*repo \(host copied\)[\s\S]*copy: done/)
  const copied = JSON.parse((await execa('restic', ['-r', join(second, 'repo'), '--password-file', passwordFile, 'snapshots', '--json'], { env: { RESTIC_CACHE_DIR: join(second, 'cache') } })).stdout)
  t.equal(copied.length, 1)
  t.equal(copied[0].hostname, 'copied')
})
