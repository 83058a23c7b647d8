import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, runBin } from '../fixtures/cli.js'
import { useBackedUpRepository } from '../fixtures/backed-up.js'
import { addRandomFiles } from '../fixtures/data.js'
import { readAtOnce, readSlowly } from '../fixtures/slow-reader.js'
import { describeTree } from '../fixtures/tree.js'

const repo = useBackedUpRepository(t, { env: { REPO_PATH: 'export' }, fullTree: true })
let data: string, env: Record<string, string>, work: string
t.before(() => {
  ;({ data, env, work } = repo)
})

t.test('an exported snapshot is a tar that GNU tar reads back into the same tree', async (t) => {
  const archive = join(work, 'snapshot.tar')
  const result = await runBin(RDS, ['export', '--output', archive], env)
  t.equal(result.exitCode, 0, result.stderr)
  const listing = (await execa('tar', ['-tvf', archive])).stdout
  t.match(listing, /db\/dump\.sql/)
  const out = join(work, 'extracted')
  await mkdir(out)
  await execa('tar', ['-xpf', archive, '--numeric-owner', '-C', out])
  const extracted = await describeTree(join(out, data))
  const original = await describeTree(data)
  // A tar from restic dump keeps contents, owners, modes, times and symlinks; hard links and
  // sparseness are a restore's (rds restore) to bring back.
  for (const [path, entry] of Object.entries(original)) {
    if (path === '.') continue
    // tar keeps whole seconds; restic rounds to the nearest.
    t.same({ ...extracted[path], mtimeMs: Math.round((extracted[path]?.mtimeMs ?? 0) / 1000) }, { ...entry, mtimeMs: Math.round(entry.mtimeMs / 1000) }, path)
  }
  t.same((await readdir(work)).filter((name) => name.includes('rds-partial')), [], 'no partial file is left')
})

t.test('to standard output, and only one path of the snapshot', async (t) => {
  const result = await execa(process.execPath, [RDS, 'export', '--path', join(data, 'db')], { env, extendEnv: false, encoding: 'buffer' })
  const listing = (await execa('tar', ['-tf', '-'], { input: result.stdout })).stdout.split('\n')
  t.ok(listing.some((line) => line.endsWith('db/dump.sql')))
  t.notOk(listing.some((line) => line.endsWith('script.sh')), 'only the path asked for')
  const file = await execa(process.execPath, [RDS, 'export', '--path', join(data, 'db', 'dump.sql')], { env, extendEnv: false, stripFinalNewline: false })
  t.equal(file.stdout, await readFile(join(data, 'db', 'dump.sql'), 'utf8'), 'a single file comes out as it is')
})

t.test('an export of more than 100 MB, to a file and to a slow pipe, is byte for byte what restic dump writes', async (t) => {
  const big = join(work, 'big-data')
  await addRandomFiles(big, 1, 110_000_000)
  const bigEnv = { ...env, BACKUP_PATH: big, REPO_PATH: 'export-big' }
  t.equal((await runBin(RDS, ['backup'], bigEnv)).exitCode, 0)
  const snapshot = (JSON.parse((await runBin(RDS, ['snapshots', '--json'], bigEnv)).stdout) as { id: string }[])[0]!.id
  // restic itself, outside the code under test.
  const { server } = repo
  const sftpArgs = `sftp.args=-p ${server.port} -i ${server.privkeyFile} -o UserKnownHostsFile=${server.knownHostsFile}`
  const dumped = await readAtOnce('restic', ['-o', sftpArgs, 'dump', '--archive', 'tar', snapshot, '/'], {
    PATH: env.PATH!,
    RESTIC_CACHE_DIR: join(work, 'cache'),
    RESTIC_REPOSITORY: `sftp:${server.user}@127.0.0.1:export-big`,
    RESTIC_PASSWORD_FILE: server.passwordFile,
  })
  t.equal(dumped.exitCode, 0, dumped.stderr)
  t.ok(dumped.bytes > 100_000_000, `restic dump writes ${dumped.bytes} bytes`)
  const expected = dumped.sha256

  const archive = join(work, 'big.tar')
  const toFile = await runBin(RDS, ['export', snapshot, '--output', archive], bigEnv)
  t.equal(toFile.exitCode, 0, toFile.stderr)
  t.equal(createHash('sha256').update(await readFile(archive)).digest('hex'), expected, 'the file')
  t.equal((await stat(archive)).mode & 0o777, 0o600, 'readable by its owner only')
  await rm(archive)
  const piped = await readSlowly(process.execPath, [RDS, 'export', snapshot], bigEnv)
  t.equal(piped.exitCode, 0, piped.stderr)
  t.equal(piped.sha256, expected, 'the slow pipe')
  await rm(big, { recursive: true })
})

t.test('bad input leaves no archive', async (t) => {
  const archive = join(work, 'bad.tar')
  const unknown = await runBin(RDS, ['export', 'cafebabe', '--output', archive], env)
  t.equal(unknown.exitCode, 1)
  t.match(unknown.stderr, /^rds: there is no snapshot "cafebabe" in the repository/m)
  const missing = await runBin(RDS, ['export', '--path', '/nope', '--output', archive], env)
  t.equal(missing.exitCode, 1)
  t.match(missing.stderr, /^rds: \/nope is not in snapshot/m)
  await t.rejects(stat(archive))
  t.same((await readdir(work)).filter((name) => name.includes('bad')), [])
})
