// End to end: the README's one-command demo, as written, on the machine's Swarm, then its --down:
// everything it made is gone, and nothing else was touched.
import t from 'tap'
import { execa } from 'execa'
import { clearScratchSwarm, useHostEngine } from '../fixtures/docker.js'
import { readmeShellBlocks } from '../fixtures/readme.js'
import { ROOT } from '../fixtures/root.js'

t.setTimeout(20 * 60 * 1000)

const docker = async (args: string[]) => (await execa('docker', args)).stdout.split('\n').filter(Boolean)
const missing = await useHostEngine(t)
if (missing) {
  if (process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)
  else t.plan(0, `${missing}; run test/e2e/start-docker to include the demo`)
} else if ((await docker(['secret', 'ls', '--format', '{{.Name}}'])).includes('restic-ssh-privkey') && !process.env.CI) {
  t.plan(0, 'this Swarm has a secret restic-ssh-privkey (a real deployment?), which the demo refuses to touch')
} else {
  // What the demo refuses to touch (a real deployment, on a person's machine) and an earlier run on a
  // CI machine may have left.
  const removed = await clearScratchSwarm(['restic-ssh-privkey', 'restic-ssh-authorized-keys', 'restic-ssh-known-hosts', 'restic-repo-password', 'db-password'], 'rds-demo')
  if (removed.length > 0) t.comment(`removed what an earlier run left on this machine's Swarm: ${removed.join(', ')}`)
  t.test('npm run demo, as the README writes it: a first backup, the jobs, the coverage, the snapshots, and the database restored; --down removes what it made', async (t) => {
    const [block] = (await readmeShellBlocks('Try it')).filter((candidate) => candidate.includes('npm run demo'))
    t.ok(block, 'the README has the demo')
    const before = { volumes: await docker(['volume', 'ls', '-q']), secrets: await docker(['secret', 'ls', '--format', '{{.Name}}']), services: await docker(['service', 'ls', '--format', '{{.Name}}']) }
    t.teardown(() => execa('npm', ['run', 'demo', '--', '--down'], { cwd: ROOT, reject: false }))
    const demo = await execa('bash', ['-e', '-c', block!], { cwd: ROOT, reject: false, all: true })
    t.equal(demo.exitCode, 0, demo.all)
    const steps = demo.stdout.split('\n').filter((line) => /^demo: .* +\d+\.\d s$/.test(line))
    t.ok(steps.length >= 8, `each step one line with its time:\n${steps.join('\n')}`)
    t.match(demo.stdout, /demo: a backup of rds-demo_db: its dump streamed into restic +\d+\.\d s/)
    t.match(demo.stdout, /demo: rds jobs\n  rds-demo_db: .* on \S+, .*last run succeeded/)
    t.match(demo.stdout, /demo: rds coverage[^\n]*\n  [\s\S]*rds-demo_site/)
    t.match(demo.stdout, /demo: rds snapshots\n[\s\S]*rds-demo_db[\s\S]*rds-demo_web/)
    t.match(demo.stdout, /demo: the restored database has all 1000 rows of demo_rows/)

    const down = await execa('npm', ['run', 'demo', '--', '--down'], { cwd: ROOT, reject: false, all: true })
    t.equal(down.exitCode, 0, down.all)
    t.match(down.stdout, /demo: removed the stack rds-demo/)
    t.same(await docker(['service', 'ls', '--format', '{{.Name}}']), before.services, 'no service left, none of the others touched')
    t.same(await docker(['secret', 'ls', '--format', '{{.Name}}']), before.secrets, 'no secret left')
    t.same(await docker(['volume', 'ls', '-q']), before.volumes, 'no volume left')
  })
}
