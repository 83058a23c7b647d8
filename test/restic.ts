import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { readConfig } from '../lib/config.js'
import { sftpRepository } from '../lib/repository.js'
import { checkResticVersion, readableResticLine, runRestic } from '../lib/restic.js'
import { captureLogger } from './fixtures/log.js'

t.test("restic's JSON error lines read like its plain ones", async (t) => {
  t.equal(
    readableResticLine('{"message_type":"error","error":{"message":"open /backup/x: permission denied"},"during":"archival","item":"/backup/x"}'),
    'error: /backup/x: open /backup/x: permission denied',
  )
  t.equal(readableResticLine('{"message_type":"error","error":{"message":"boom"}}'), 'error: boom')
  t.equal(readableResticLine('{"message_type":"status"}'), '{"message_type":"status"}')
  t.equal(readableResticLine('{not json'), '{not json')
  t.equal(readableResticLine('Fatal: x'), 'Fatal: x')
})

t.test('the installed restic is found and is new enough', async (t) => {
  t.match(await checkResticVersion('restic'), /^0\.(1[7-9]|[2-9]\d)\.\d+$/)
})

t.test('a restic that cannot be started is a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-restic-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const notExecutable = join(dir, 'restic')
  await writeFile(notExecutable, 'not a program', { mode: 0o644 })
  const repository = sftpRepository(readConfig({ SSH_HOST: 'h', REPO_PATH: 'r' }), { alias: 'a', configFile: '/x' })
  const { log } = captureLogger()
  await t.rejects(runRestic({ binary: notExecutable, repository }, ['snapshots'], { log }), { name: 'RunError', message: /^restic snapshots could not be started: .*EACCES/ })
  await t.rejects(runRestic({ binary: join(dir, 'missing'), repository }, ['snapshots'], { log }), { name: 'ConfigError', message: /^restic was not found/ })
})
