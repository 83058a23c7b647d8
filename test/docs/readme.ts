// The front door: the README short, every link of the README and the docs pages leading somewhere
// real, and "Try it" run as written.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { existsSync } from 'node:fs'
import t from 'tap'
import { execa } from 'execa'
import { RDS } from '../fixtures/cli.js'
import { documentationFiles, readmeShellBlocks } from '../fixtures/readme.js'
import { ROOT } from '../fixtures/root.js'

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')

/** The text outside code blocks, where links are links. */
const prose = (text: string) => text.split(/^```.*$/m).filter((_, i) => i % 2 === 0).join('\n')

t.test('the README is a front door: at most 300 lines', async (t) => {
  const lines = (await readFile(join(ROOT, 'README.md'), 'utf8')).split('\n').length - 1
  t.ok(lines <= 300, `README.md has ${lines} lines`)
})

t.test('every link of the README and the docs pages leads to a file, and a heading, that exist', async (t) => {
  const files = await documentationFiles()
  const headings = new Map<string, Set<string>>()
  for (const file of files) {
    const text = prose(await readFile(join(ROOT, file), 'utf8'))
    headings.set(file, new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((match) => anchorOf(match[1]!))))
  }
  const broken: string[] = []
  for (const file of files) {
    for (const [, target] of prose(await readFile(join(ROOT, file), 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue
      const [path, anchor] = target!.split('#') as [string, string | undefined]
      const linked = path === '' ? file : join(dirname(file), path)
      if (!existsSync(join(ROOT, linked))) broken.push(`${file}: ${target} (no file ${linked})`)
      else if (anchor !== undefined && !headings.get(linked)?.has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${linked})`)
    }
  }
  t.same(broken, [], 'no broken link')
})

t.test('"Try it" without Docker, as written: a folder backed up into a local repository and restored the same', async (t) => {
  const block = (await readmeShellBlocks('Try it')).find((candidate) => candidate.includes('RESTIC_REPOSITORY='))
  t.ok(block, 'the README has the block')
  // `rds` on the PATH, as `npm install -g .` puts it there.
  const bin = await mkdtemp(join(tmpdir(), 'rds-try-bin-'))
  const made = ['/tmp/rds-try-password', '/tmp/rds-try-repo', '/tmp/rds-try-restored']
  const clean = () => Promise.all([bin, ...made].map((path) => rm(path, { recursive: true, force: true })))
  await Promise.all(made.map((path) => rm(path, { recursive: true, force: true })))
  t.teardown(clean)
  await writeFile(join(bin, 'rds'), `#!/bin/sh\nexec "${process.execPath}" "${RDS}" "$@"\n`)
  await chmod(join(bin, 'rds'), 0o755)
  const env = { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME ?? '/root' }
  const run = await execa('bash', ['-e', '-c', block!], { cwd: ROOT, env, extendEnv: false, reject: false, all: true })
  t.equal(run.exitCode, 0, run.all)
  t.match(run.all, /backup: snapshot [0-9a-f]{8} saved[\s\S]*restore: done/)
})
