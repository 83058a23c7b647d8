// The docs cannot drift from the code: every variable, label, command and flag the code accepts is
// in the docs pages, and every one the docs' tables list is accepted by the code.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PassThrough } from 'node:stream'
import t from 'tap'
import type { Command } from 'commander'
import { RETENTION_VARIABLES } from '../../lib/config/environment.js'
import { KNOWN_LABELS } from '../../lib/swarm/labels.js'
import { ROOT } from '../fixtures/root.js'

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name))
}
const text = (file: string) => readFile(file.startsWith('/') ? file : join(ROOT, file), 'utf8')
const docs = async (page: string) => text(join('docs', page))
/** The names in the first column of the tables of a page (one or more a row: | `A`, `B` | ...). */
const tableNames = (page: string, pattern: RegExp) =>
  [...page.matchAll(/^\| ([^|]+) \|/gm)].flatMap((row) => [...row[1]!.matchAll(new RegExp(`\`(${pattern.source})\``, 'g'))].map((match) => match[1]!))

// Read from the environment by something else than a setting of ours: the shell, sshd.
const NOT_SETTINGS = new Set(['IFS', 'SSH_ORIGINAL_COMMAND', 'RDS_SERVE_ROOT'])
// Read by Node.js and the C library, not by our code, and documented for the schedules.
const READ_BY_THE_RUNTIME = ['TZ']

t.test('every environment variable the code, the images and the stacks read is in a table of the docs, and the reverse', async (t) => {
  const read = new Set<string>([...RETENTION_VARIABLES, ...READ_BY_THE_RUNTIME])
  for (const file of (await filesUnder('lib')).filter((name) => name.endsWith('.ts'))) {
    const source = await text(file)
    for (const pattern of [/\(\s*env,\s*'([A-Z][A-Z0-9_]+)'/g, /\benv\.([A-Z][A-Z0-9_]+)/g, /\benv\[['"]([A-Z][A-Z0-9_]+)/g]) {
      for (const match of source.matchAll(pattern)) read.add(match[1]!)
    }
  }
  for (const file of [...(await filesUnder('images')), join(ROOT, 'stack.yml'), join(ROOT, 'stack.single-service.yml')]) {
    for (const match of (await text(file)).matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g)) if (!NOT_SETTINGS.has(match[1]!)) read.add(match[1]!)
  }
  const documented = new Set([...tableNames(await docs('configuration.md'), /[A-Z][A-Z0-9_]+/), ...tableNames(await docs('server.md'), /[A-Z][A-Z0-9_]+/)])
  t.same([...read].filter((name) => !documented.has(name)).sort(), [], 'read, but in no table of docs/configuration.md or docs/server.md')
  t.same([...documented].filter((name) => !read.has(name)).sort(), [], 'in a table of the docs, but read by nothing')
})

t.test('every label the controller knows is in the table of docs/labels.md, and the reverse', async (t) => {
  const documented = new Set(tableNames(await docs('labels.md'), /rds\.backup[a-z.-]*/))
  t.same([...KNOWN_LABELS].filter((label) => !documented.has(label)).sort(), [], 'known, but not in the table')
  t.same([...documented].filter((label) => !KNOWN_LABELS.has(label)).sort(), [], 'in the table, but not known')
})

t.test('every command of rds and every one of its flags is in the docs pages', async (t) => {
  const page = (await Promise.all((await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => docs(name)))).join('\n')
  // The built program: it reads its version from the package.json beside dist/.
  const { buildProgram } = (await import(pathToFileURL(join(ROOT, 'dist/lib/cli/rds.js')).href)) as typeof import('../../lib/cli/rds.js')
  const sink = new PassThrough()
  const program = await buildProgram({ env: {}, stdin: new PassThrough(), stdout: sink, stderr: sink, stop: new AbortController().signal }, () => undefined)
  const missing: string[] = []
  const visit = (command: Command, path: string[]) => {
    // Hidden commands are the images' and jobs' own plumbing, not a user's (commander keeps the mark private).
    for (const sub of command.commands.filter((candidate) => !(candidate as unknown as { _hidden?: boolean })._hidden)) {
      const name = [...path, sub.name()].join(' ')
      if (!new RegExp(`\`(rds )?${name}[\` ]`).test(page)) missing.push(`rds ${name}`)
      for (const option of sub.options) {
        const flag = option.long ?? option.short
        if (flag && flag !== '--help' && !page.includes(flag)) missing.push(`rds ${name} ${flag}`)
      }
      visit(sub, [...path, sub.name()])
    }
  }
  visit(program, [])
  t.same(missing, [], 'accepted by rds, but in no docs page')
})
