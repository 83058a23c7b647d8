import t from 'tap'
import { join } from 'node:path'
import { RDS, runBin } from '../fixtures/cli.js'
import { useBackedUpRepository } from '../fixtures/backed-up.js'

const repo = useBackedUpRepository(t, { env: { REPO_PATH: 'list', SNAPSHOT_HOST: 'app' } })
let data: string, env: Record<string, string>
t.before(() => {
  ;({ data, env } = repo)
})

t.test('rds snapshots: a table for people, JSON for scripts', async (t) => {
  const table = await runBin(RDS, ['snapshots'], env)
  t.equal(table.exitCode, 0)
  t.match(table.stdout, /ID\s+Time\s+Host[\s\S]*app[\s\S]*1 snapshots/)
  const json = JSON.parse((await runBin(RDS, ['snapshots', '--json'], env)).stdout)
  t.match(json, [{ hostname: 'app', paths: [data] }])
  t.same(JSON.parse((await runBin(RDS, ['snapshots', '--json', '--host', 'other'], env)).stdout), [])
})

t.test('rds ls: the files of a snapshot or under one path', async (t) => {
  const all = await runBin(RDS, ['ls'], env)
  t.equal(all.exitCode, 0)
  t.match(all.stdout, new RegExp(`^-rwxr-x--- \\d+/\\d+ +\\d+ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d ${join(data, 'script.sh')}$`, 'm'))
  const db = JSON.parse((await runBin(RDS, ['ls', 'latest', join(data, 'db'), '--json'], env)).stdout) as { path: string }[]
  t.same(db.map((node) => node.path).sort(), [join(data, 'db'), join(data, 'db', 'blob.bin'), join(data, 'db', 'dump.sql')])
  const missing = await runBin(RDS, ['ls', 'latest', '/not/there'], env)
  t.equal(missing.exitCode, 1)
  t.match(missing.stderr, /^rds: \/not\/there is not in snapshot [0-9a-f]{8}/m)
  const unknown = await runBin(RDS, ['ls', '0123abcd'], env)
  t.equal(unknown.exitCode, 1)
  t.match(unknown.stderr, /^rds: there is no snapshot "0123abcd"/m)
})

t.test('"latest" in a repository that several hosts share names no one snapshot: --host is asked for, and then it is that host\'s', async (t) => {
  const other = { ...env, SNAPSHOT_HOST: 'other-service' }
  t.equal((await runBin(RDS, ['backup'], other)).exitCode, 0)
  for (const command of [['ls'], ['restore', '--target', '/tmp/rds-nowhere'], ['export', '--output', '/tmp/rds-nowhere.tar']]) {
    const run = await runBin(RDS, command, env)
    t.equal(run.exitCode, 2, `rds ${command[0]}`)
    t.match(run.stderr, /^rds: "latest" names no one snapshot: the repository .* holds snapshots of 2 hosts \(app, other-service\); name one with --host \(rds snapshots lists them\)\.\n$/m)
  }
  const named = await runBin(RDS, ['ls', 'latest', '--host', 'other-service'], env)
  t.equal(named.exitCode, 0, named.stderr)
})
