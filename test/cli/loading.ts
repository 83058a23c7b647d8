// rds loads only the files of the command it runs: a backup pays Node's start-up for what a backup
// uses, not for the Swarm, the server or the Docker API (docs/BENCHMARKS.md measures the cost).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Command } from 'commander'
import { execa } from 'execa'
import t from 'tap'
import type { CommandContext } from '../../lib/cli/context.js'
import { RDS } from '../fixtures/cli.js'
import { ROOT } from '../fixtures/root.js'

t.test('each command file adds exactly the commands it is listed with', async (t) => {
  // The built program, as the package.json it reads for --version is found from dist/.
  const { COMMAND_GROUPS } = (await import(pathToFileURL(join(ROOT, 'dist/lib/cli/rds.js')).href)) as typeof import('../../lib/cli/rds.js')
  const context = { cli: {}, setExitCode: () => undefined, plainLog: {} } as unknown as CommandContext
  for (const [, files] of COMMAND_GROUPS) {
    for (const file of files) {
      const program = new Command()
      ;(await file.load())(program, context)
      t.same(program.commands.map((command) => command.name()), file.names)
    }
  }
})

// A module hook that writes down every file the program resolves.
const HOOKS = `import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(process.env.RDS_LOADED_LOG, resolved.url + '\\n')
  return resolved
}`
const REGISTER = `import { register } from 'node:module'
register('./hooks.mjs', import.meta.url)`

t.test('a command loads only what it uses; the help loads every command', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-loading-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'hooks.mjs'), HOOKS)
  await writeFile(join(dir, 'register.mjs'), REGISTER)
  const loaded = async (args: string[]) => {
    const log = join(dir, `${args.join('-')}.log`)
    await writeFile(log, '')
    const result = await execa(process.execPath, ['--import', join(dir, 'register.mjs'), RDS, ...args], { env: { RDS_LOADED_LOG: log }, reject: false })
    t.equal(result.exitCode, 0, `rds ${args.join(' ')}: ${result.stderr}`)
    return (await readFile(log, 'utf8')).split('\n')
  }
  const notForABackup = /\/lib\/(swarm|server|doctor|restore)\/|\/lib\/cli\/(with-controller|agent|server|jobs)\.js|node_modules\/(dockerode|prom-client|nodemailer)\//
  for (const args of [['backup', '--help'], ['snapshots', '--help'], ['--version']]) {
    const files = await loaded(args)
    t.ok(files.some((url) => url.endsWith('/lib/cli/rds.js')), `rds ${args.join(' ')} was watched`)
    t.same(files.filter((url) => notForABackup.test(url)), [], `rds ${args.join(' ')} loads no Swarm, server or Docker API code`)
  }
  const help = await loaded(['--help'])
  t.ok(help.some((url) => url.endsWith('/lib/cli/with-controller.js')) && help.some((url) => url.endsWith('/lib/cli/server.js')), 'the help loads every command')
})
