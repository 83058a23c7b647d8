// Every command that reports something prints JSON with --json, for scripts, in one parseable
// document on stdout (the log stays on stderr).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { RDS, runBin } from '../fixtures/cli.js'
import { useServerAndData } from '../fixtures/sftp-server.js'
import { ROOT } from '../fixtures/root.js'

const fixture = useServerAndData(t)

/** The commands that report something (what they found, made or did), each with --json. */
const REPORTING = ['backup', 'snapshots', 'ls', 'jobs', 'coverage', 'status', 'health', 'doctor', 'drill', 'keygen']

t.test('the reporting commands are the ones with --json', async (t) => {
  const { buildProgram } = (await import(pathToFileURL(join(ROOT, 'dist/lib/cli/rds.js')).href)) as typeof import('../../lib/cli/rds.js')
  const sink = new PassThrough()
  const program = await buildProgram({ env: {}, stdin: new PassThrough(), stdout: sink, stderr: sink, stop: new AbortController().signal }, () => undefined)
  const withJson = program.commands.filter((command) => command.options.some((option) => option.long === '--json')).map((command) => command.name())
  t.same(withJson.sort(), [...REPORTING].sort())
})

t.test('each one prints one JSON document on stdout, against a real server and repository', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-json-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'json', STATUS_FILE: join(dir, 'status.json'), LOCK_DIR: join(dir, 'locks') })
  const json = async (args: string[], expectedExit = 0) => {
    const result = await runBin(RDS, [...args, '--json'], env)
    t.equal(result.exitCode, expectedExit, `rds ${args.join(' ')} --json: ${result.stderr}`)
    return JSON.parse(result.stdout) as unknown
  }
  t.match(await json(['backup']), [{ job: 'restic-docker-swarm', ok: true, exitCode: 0, snapshot: /^[0-9a-f]{64}$/, files: Number, bytesAdded: Number, rejected: [] }], 'backup: its run')
  const [snapshot] = (await json(['snapshots'])) as { id: string }[]
  t.match(snapshot, { id: /^[0-9a-f]{64}$/ }, 'snapshots')
  t.ok(Array.isArray(await json(['ls', 'latest'])), 'ls')
  t.match(await json(['status']), { jobs: { 'restic-docker-swarm': { state: 'OK' } } }, 'status')
  // The heartbeat an agent writes (these runs are made by hand, beside none): health judges by it.
  const statusFile = join(dir, 'status.json')
  await writeFile(statusFile, JSON.stringify({ ...JSON.parse(await readFile(statusFile, 'utf8')), heartbeatAt: new Date().toISOString() }))
  t.match(await json(['health']), { healthy: true, problems: [], jobs: { 'restic-docker-swarm': 'OK' } }, 'health')
  t.match(await json(['doctor']), { ok: true, checks: [{ what: String, ok: true, detail: String }] }, 'doctor')
  t.match(await json(['drill']), [{ job: 'restic-docker-swarm', ok: true }], 'drill')
  t.match(await json(['keygen', '--repository', 'app/db', '--dir', dir]), { mode: 'append-only', repository: 'app/db', secret: 'rds-agent-app-db', authorizedKeysLine: /^restrict,command="rds-serve --append-only app\/db" ssh-ed25519 /, commands: [/^docker secret create rds-agent-app-db /] }, 'keygen')
  // jobs and coverage read the controller's table and the Swarm: see test/cli/jobs.ts and the end-to-end tests.
  const failing = await runBin(RDS, ['backup', '--json'], { ...env, REPO_PATH: 'json', RESTIC_REPO_PASSWORD_FILE: join(dir, 'nope') })
  t.equal(failing.exitCode, 2, 'bad configuration: exit 2 before any run')
})
