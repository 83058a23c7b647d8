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
  const db = JSON.parse((await runBin(RDS, ['ls', 'latest', '--path', join(data, 'db'), '--json'], env)).stdout) as { path: string }[]
  t.same(db.map((node) => node.path).sort(), [join(data, 'db'), join(data, 'db', 'blob.bin'), join(data, 'db', 'dump.sql')])
  const missing = await runBin(RDS, ['ls', 'latest', '--path', '/not/there'], env)
  t.equal(missing.exitCode, 1)
  t.match(missing.stderr, /^rds: \/not\/there is not in snapshot [0-9a-f]{8}/m)
  const unknown = await runBin(RDS, ['ls', '0123abcd'], env)
  t.equal(unknown.exitCode, 1)
  t.match(unknown.stderr, /^rds: there is no snapshot "0123abcd"/m)
})

t.test('"latest" in a repository that several hosts share: the agent\'s own host\'s, --host another\'s, and without either no one snapshot', async (t) => {
  // other-service backs up one folder of the data: the listing tells whose snapshot it is.
  const other = { ...env, SNAPSHOT_HOST: 'other-service', BACKUP_PATH: join(data, 'db') }
  t.equal((await runBin(RDS, ['backup'], other)).exitCode, 0)
  const dir = t.testdir()
  // A one-off container: neither SNAPSHOT_HOST nor SERVICE_NAME says whose "latest" it is.
  const { SNAPSHOT_HOST: _own, ...oneOff } = env
  for (const command of [['ls'], ['restore', '--target', join(dir, 'restored')], ['export', '--output', join(dir, 'exported.tar')]]) {
    const run = await runBin(RDS, command, oneOff)
    t.equal(run.exitCode, 2, `rds ${command[0]}`)
    t.match(run.stderr, /^rds: "latest" names no one snapshot: the repository .* holds snapshots of 2 hosts \(app, other-service\); name one with --host \(rds snapshots lists them\)\.\n$/m)
  }
  const hostOf = async (args: string[], runEnv: Record<string, string>) => {
    const run = await runBin(RDS, ['ls', ...args, '--json'], runEnv)
    t.equal(run.exitCode, 0, run.stderr)
    const paths = (JSON.parse(run.stdout) as { path: string }[]).map((node) => node.path)
    return paths.includes(join(data, 'private.txt')) ? 'app' : paths.includes(join(data, 'db', 'dump.sql')) ? 'other-service' : `unknown: ${paths.join(' ')}`
  }
  t.equal(await hostOf([], env), 'app', "the agent's own host (SNAPSHOT_HOST)")
  t.equal(await hostOf([], { ...oneOff, SERVICE_NAME: 'other-service' }), 'other-service', 'or SERVICE_NAME')
  t.equal(await hostOf(['latest', '--host', 'other-service'], env), 'other-service', 'another host, named')
  t.equal(await hostOf(['latest', '--host', 'app'], oneOff), 'app')
})

t.test('rds backup --tag: every snapshot of the run has the tag; a safety snapshot is never "latest", and is restored by its ID', async (t) => {
  const dir = t.testdir({ 'changed-later.txt': 'what a restore would replace' })
  const safety = { ...env, BACKUP_PATH: dir, SNAPSHOT_HOST: 'safe' }
  t.equal((await runBin(RDS, ['backup'], { ...safety, BACKUP_PATH: join(data, 'db') })).exitCode, 0)
  const tagged = await runBin(RDS, ['backup', '--tag', 'rds-safety'], safety)
  t.equal(tagged.exitCode, 0, tagged.stderr)
  const listed = JSON.parse((await runBin(RDS, ['snapshots', '--json', '--host', 'safe'], env)).stdout) as { short_id: string; paths: string[]; tags?: string[] }[]
  t.same(listed.map((snapshot) => snapshot.tags ?? []), [[], ['rds-safety']])
  const latest = await runBin(RDS, ['ls', '--host', 'safe', '--json'], env)
  t.equal(latest.exitCode, 0, latest.stderr)
  t.notOk((JSON.parse(latest.stdout) as { path: string }[]).some((node) => node.path.endsWith('changed-later.txt')), 'latest is the backup before it')
  const byId = await runBin(RDS, ['ls', listed[1]!.short_id, '--json'], env)
  t.ok((JSON.parse(byId.stdout) as { path: string }[]).some((node) => node.path.endsWith('changed-later.txt')), 'the safety snapshot by its ID')
  const refused = await runBin(RDS, ['backup', '--tag', 'x', '--service', 'app'], { ...env, MODE: 'swarm' })
  t.equal(refused.exitCode, 2)
  t.match(refused.stderr, /^rds: --tag applies to a backup in this container, not to a labelled service's run \(--service\); leave one of them out\.$/m)
})
