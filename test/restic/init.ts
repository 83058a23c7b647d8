// The repository made once, however many runs want it at once (real sshd, real restic): two
// concurrent `restic init` would each write a key and a config, and one's snapshots would be
// unreadable ever after.
import t from 'tap'
import { openWorkspace } from '../../lib/restic/workspace.js'
import { ensuringRepositories, type SavedThere } from '../../lib/restic/init.js'
import type { RunError } from '../../lib/errors.js'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Restic } from '../../lib/restic/command.js'
import { captureLogger } from '../fixtures/log.js'
import { startSftpServer } from '../fixtures/sftp-server.js'
import { execa } from 'execa'
import { repositoryEnv, repositoryOptions } from '../../lib/restic/repository.js'

t.test('five runs that want one new repository at once: it is made once, and every backup into it can be read', async (t) => {
  const server = await startSftpServer()
  t.teardown(() => server.stop())
  const { log, text } = captureLogger()
  const workspace = await openWorkspace(server.env('/unused', { REPO_PATH: 'shared' }), log)
  t.teardown(() => workspace.close())
  const restic: Restic = { binary: 'restic', repository: workspace.repository }
  const ensure = ensuringRepositories(log)
  await Promise.all(Array.from({ length: 5 }, () => ensure('shared', restic)))
  t.equal(text().match(/repository: none at shared on \S+ yet, creating it/g)?.length, 1, 'one restic init')
  const run = (args: string[], input?: string) =>
    execa('restic', [...repositoryOptions(workspace.repository), ...args], { env: repositoryEnv(workspace.repository), input, reject: false })
  t.equal((await run(['list', 'keys'])).stdout.trim().split('\n').length, 1, 'one key')
  const backups = await Promise.all(['a', 'b', 'c'].map((host) => run(['backup', '--stdin', '--stdin-filename', `${host}.txt`, '--host', host], `data of ${host}\n`)))
  for (const backup of backups) t.equal(backup.exitCode, 0, backup.stderr)
  const check = await run(['check'])
  t.equal(check.exitCode, 0, check.stderr)
  t.equal(JSON.parse((await run(['snapshots', '--json'])).stdout).length, 3, 'every snapshot is readable')

  await ensure('shared', restic)
  t.equal(text().match(/creating it/g)?.length, 1, 'looked at again, found, not created again')
})

t.test('a repository that vanished after a snapshot was recorded there fails every run with one sentence, exit 10, and is not created again', async (t) => {
  const server = await startSftpServer()
  t.teardown(() => server.stop())
  const { log, text } = captureLogger()
  const workspace = await openWorkspace(server.env('/unused', { REPO_PATH: 'vanishes' }), log)
  t.teardown(() => workspace.close())
  const restic: Restic = { binary: 'restic', repository: workspace.repository }
  let recorded: SavedThere | undefined
  const asked: string[] = []
  const ensure = ensuringRepositories(log, async (repository) => {
    asked.push(repository)
    return recorded
  })
  await ensure('vanishes', restic)
  t.match(text(), /repository: created/, 'nothing recorded there: created')
  recorded = { id: 'f'.repeat(64), time: '2026-12-01T03:00:00Z', by: 'stack_db' }
  await rm(join(server.home, 'vanishes'), { recursive: true })
  // Several services' runs at once, and again later: each is refused, none creates it.
  const runs = await Promise.allSettled([ensure('vanishes', restic), ensure('vanishes', restic)])
  const later = await ensure('vanishes', restic).then(() => undefined, (error: RunError) => error)
  for (const error of [...runs.map((run) => (run as PromiseRejectedResult).reason), later]) {
    t.match(error, { exitCode: 10, message: /^the repository vanishes on \S+ is gone, although snapshot ffffffff of stack_db was saved there at 2026-12-01T03:00:00Z; refusing to start a new, empty one/ })
  }
  t.equal(text().match(/creating it/g)?.length, 1, 'no second restic init')
  await t.rejects(stat(join(server.home, 'vanishes')), 'no new repository on the server')
  const name = workspace.repository.describe
  t.same(asked, [name, name, name], 'asked by the repository\'s name, once for the two runs at once')
})

t.test('a check that failed is made again by the next run, not remembered', async (t) => {
  const server = await startSftpServer()
  t.teardown(() => server.stop())
  const { log, text } = captureLogger()
  const workspace = await openWorkspace(server.env('/unused', { REPO_PATH: 'later' }), log)
  t.teardown(() => workspace.close())
  const ensure = ensuringRepositories(log)
  await t.rejects(ensure('later', { binary: '/nonexistent/restic', repository: workspace.repository }), { name: 'ConfigError', message: /restic was not found/ })
  await ensure('later', { binary: 'restic', repository: workspace.repository })
  t.match(text(), /repository: created/)
})
