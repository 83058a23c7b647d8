import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { PassThrough, Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, RUNRESTIC } from '../fixtures/cli.js'
import { useBackedUpRepository } from '../fixtures/backed-up.js'
import { readAtOnce, readSlowly } from '../fixtures/slow-reader.js'
import { exitCodeAfterDrain } from '../../lib/cli/drain.js'

// Enough files that `rds ls --json` writes far more than a pipe holds (64 KiB).
async function addManyFiles(data: string): Promise<void> {
  for (let dir = 0; dir < 20; dir++) {
    await mkdir(join(data, 'many', `d${dir}`), { recursive: true })
    for (let file = 0; file < 200; file++) await writeFile(join(data, 'many', `d${dir}`, `file-${file}.txt`), `${dir}/${file}\n`)
  }
}

const repo = useBackedUpRepository(t, { env: { REPO_PATH: 'drain' }, prepare: addManyFiles })
const node = process.execPath
const locks = () => readdir(join(repo.server.home, 'drain', 'locks'))

t.test('a slow reader gets every byte, and the exit code is 0', async (t) => {
  const commands: [string, string[]][] = [
    ['rds ls --json', [RDS, 'ls', 'latest', '--json']],
    ['rds ls', [RDS, 'ls']],
    ['rds export', [RDS, 'export']],
    ['rds snapshots --json', [RDS, 'snapshots', '--json']],
    ['runrestic ls', [RUNRESTIC, 'ls', 'latest', '--long']],
  ]
  for (const [name, args] of commands) {
    const whole = await readAtOnce(node, args, repo.env)
    t.equal(whole.exitCode, 0, `${name}: ${whole.stderr}`)
    const slow = await readSlowly(node, args, repo.env)
    t.equal(slow.exitCode, 0, `${name} exits 0`)
    t.ok(whole.bytes > (name.includes('snapshots') ? 100 : 200_000), `${name} writes more than a pipe holds (${whole.bytes} bytes)`)
    t.equal(slow.bytes, whole.bytes, `${name}: the slow reader got every byte`)
    t.equal(slow.sha256, whole.sha256, `${name}: the same bytes`)
  }
  const ls = JSON.parse((await execa(node, [RDS, 'ls', '--json'], { env: repo.env, extendEnv: false })).stdout) as { path: string }[]
  t.equal(ls.filter((entry) => entry.path.includes('/many/')).length, 20 + 20 * 200, 'ls --json is one JSON array of every entry')
})

t.test('a tail under the high-water mark, still waiting for a slow reader at the end, is written whole and the exit code is 0', async (t) => {
  // A reader that takes its time with each chunk: the tail's write fits the stream (it returns
  // true, so no 'drain' is ever due) and waits in it when the command ends, as a dump's tail may
  // for restic. Waiting for a 'drain' then waits for ever: with nothing else to wait for, Node
  // exits 13 (a top-level await nothing settles) and the dump fails.
  let written = 0
  const slow = new Writable({ write: (chunk: Buffer, _encoding, done) => void setTimeout(() => ((written += chunk.length), done()), 200) })
  t.equal(slow.write(Buffer.alloc(15000)), true, 'the tail fits the stream')
  const ended = await Promise.race([exitCodeAfterDrain(0, 'test', slow, new PassThrough()), sleep(5000).then(() => 'still waiting after 5 s')])
  t.equal(ended, 0)
  t.equal(written, 15000, 'the tail was written before the exit')
})

t.test('a reader that goes away fails the command, stops restic cleanly, and leaves no lock', async (t) => {
  const commands: [string, string[]][] = [
    ['rds export', [RDS, 'export']],
    ['rds ls --json', [RDS, 'ls', '--json']],
    ['runrestic dump', [RUNRESTIC, 'dump', 'latest', '/']],
  ]
  for (const [name, args] of commands) {
    // As `rds export | head -c 1000`: the reader takes a little, then closes the pipe.
    const writer = execa(node, args, { env: repo.env, extendEnv: false, reject: false, stdin: 'ignore', stderr: 'pipe' })
    const reader = writer.pipe('head', ['-c', '1000'], { reject: false })
    const [read, wrote] = await Promise.all([reader, writer])
    t.equal(read.stdout.length, 1000, `${name}: the reader got its 1000 bytes`)
    t.equal(wrote.exitCode, 1, `${name} fails`)
    t.match(wrote.stderr, /(could not be written whole|went away)/, `${name} says why`)
    t.same(await locks(), [], `${name} left no lock`)
  }
  const backup = await execa(node, [RDS, 'backup'], { env: { ...repo.env, KEEP_LAST: '1', PRUNE: 'true' }, extendEnv: false, reject: false })
  t.equal(backup.exitCode, 0, `the next backup with retention and prune succeeds: ${backup.stderr}`)
})
