import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa } from 'execa'
import { addRandomFiles } from '../fixtures/data.js'
import { RDS } from '../fixtures/cli.js'
import { spreadSchedule } from '../../lib/config/spread-schedule.js'
import { useServerAndData, type SftpServer } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)
let server: SftpServer
let data: string
t.before(() => {
  ;({ server, data } = fixture)
})

function startAgent(env: Record<string, string>) {
  let output = ''
  const agent = execa(process.execPath, [RDS, 'agent'], { env, extendEnv: false, reject: false, all: true, buffer: false })
  agent.all?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return { agent, output: () => output }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, seconds = 60): Promise<void> {
  for (let i = 0; i < seconds * 10; i++) {
    if (await check()) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const locks = (repo: string) => readdir(join(server.home, repo, 'locks')).catch(() => [] as string[])

t.test('the agent backs up on schedule, skips a tick while a run is going, and stops on SIGTERM', async (t) => {
  // Every second: the first run (which creates the repository) takes longer than that.
  const { agent, output } = startAgent(server.env(data, { REPO_PATH: 'scheduled', RUN_AT: '* * * * * *', EXTRA_ARGS: '--verbose' }))
  await waitFor('two runs', () => (output().match(/run: succeeded/g)?.length ?? 0) >= 2)
  agent.kill('SIGTERM')
  const result = await agent
  t.equal(result.exitCode, 0, 'a stop is a clean exit')
  t.match(output(), /schedule: "\* \* \* \* \* \*", next run at \d{4}-/)
  t.match(output(), /WARN  schedule: skipped the run due now, because the previous run of restic-docker-swarm is still going/)
  t.match(output(), /DEBUG restic: /, 'EXTRA_ARGS=--verbose adds restic\'s own output')
  t.match(output(), /agent: stopped/)
  const overlaps = output().split('\n').filter((line) => /run: starting/.test(line)).length
  const ends = output().split('\n').filter((line) => /run: (succeeded|failed)/.test(line)).length
  t.ok(overlaps - ends <= 1, 'runs never overlap: each start is followed by its end before the next')
  t.same(await locks('scheduled'), [], 'no lock is left')
})

t.test('SIGTERM during a backup stops restic cleanly: no stale lock, the run is reported as interrupted', async (t) => {
  const big = join(data, 'big')
  await addRandomFiles(big, 60, 3_000_000)
  t.teardown(() => rm(big, { recursive: true, force: true }))
  const { agent, output } = startAgent(server.env(data, { REPO_PATH: 'interrupted', RUN_AT: '* * * * * *' }))
  // Wait until restic has started the backup: its lock is in the repository.
  await waitFor('restic backup to hold its lock', async () => /run: starting/.test(output()) && /repository: created/.test(output()) && (await locks('interrupted')).length > 0)
  t.notMatch(output(), /backup: snapshot/, 'the backup is still running')
  agent.kill('SIGTERM')
  const result = await agent
  t.equal(result.exitCode, 0)
  t.match(output(), /agent: stopping the running backup \(restic removes its lock first\)/)
  t.match(output(), /restic backup was interrupted before it finished/)
  t.match(output(), /agent: stopped/)
  t.same(await locks('interrupted'), [], 'restic removed its lock before the agent exited')
  const snapshots = await execa('restic', ['-r', join(server.home, 'interrupted'), '--password-file', server.passwordFile, 'snapshots', '--json'], {
    env: { RESTIC_CACHE_DIR: join(server.dir, 'cache') },
  })
  t.same(JSON.parse(snapshots.stdout), [], 'no snapshot claims to be complete')
})

t.test('RUN_AT with H: the agent runs at the time its job\'s name gives, and says which', async (t) => {
  const { agent, output } = startAgent(server.env(data, { REPO_PATH: 'spread', RUN_AT: 'H H(1-5) * * *' }))
  await waitFor('the schedule', () => /schedule: "/.test(output()))
  agent.kill('SIGTERM')
  t.equal((await agent).exitCode, 0)
  const expected = spreadSchedule('H H(1-5) * * *', 'restic-docker-swarm', 'RUN_AT')
  t.match(expected, /^\d+ [1-5] \* \* \*$/)
  t.match(output(), `schedule: "${expected}", next run at `)
})
