// A service scaled to 0 for its backup and back, on the machine's real Swarm, through a proxy of the
// Docker API that refuses the first scale-backs, as a concurrent docker stack deploy makes them fail.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { scaleBack, scaleDown } from '../../lib/swarm/scale.js'
import { useHostEngine } from '../fixtures/docker.js'
import { captureLogger } from '../fixtures/log.js'
import { refusingProxy } from '../fixtures/docker-proxy.js'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)
const SERVICE = 'rds-scale-retry'

t.test('a scale-back overtaken twice by another update is made again from the new version; one refused twice is tried again, and holds', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-scale-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const proxy = await refusingProxy(t, dir)
  const docker = new Docker({ socketPath: proxy.socketPath })
  // Not detached: scaled to 0 while its tasks were still starting, Docker 20.10 once left both running,
  // wanted shut down, past the 5 minutes scaleDown waits (moby#36527); that is not what this test is about.
  await execa('docker', ['service', 'create', '--detach=false', '--quiet', '--name', SERVICE, '--replicas', '2', '--init', 'debian:trixie-slim', 'sleep', 'infinity'])
  t.teardown(() => execa('docker', ['service', 'rm', SERVICE], { reject: false }))
  const { log, text } = captureLogger()
  const scaledBack = async (what: string) => {
    const spec = JSON.parse((await execa('docker', ['service', 'inspect', SERVICE])).stdout)[0].Spec
    t.same([spec.Mode.Replicated.Replicas, spec.Labels['rds.scaled-from']], [2, undefined], `${what}: back at 2 replicas, and the record removed`)
  }
  t.equal(await scaleDown(docker, SERVICE, log), 2)
  // Another update came first (a docker stack deploy): the update is made again at once.
  proxy.refuse(2, { method: 'POST', path: /^\/services\/[^/]+\/update/ }, 500, 'rpc error: code = Unknown desc = update out of sequence')
  await scaleBack(docker, SERVICE, log)
  t.equal(proxy.refused(), 2, 'two updates were overtaken')
  t.notMatch(text(), /could not scale/, 'with no warning')
  await scaledBack('overtaken')
  t.equal(await scaleDown(docker, SERVICE, log), 2)
  // The manager fails (a leader election): tried again, further apart, and said so.
  proxy.refuse(2, { method: 'POST', path: /^\/services\/[^/]+\/update/ }, 500, 'rpc error: code = Unavailable desc = the leader is being elected')
  await scaleBack(docker, SERVICE, log)
  t.equal(proxy.refused(), 4, 'two more were refused')
  t.match(text(), /WARN\s+stop: could not scale rds-scale-retry back \(.*the leader is being elected.*\); trying again in 1 s/)
  t.match(text(), /trying again in 2 s/)
  await scaledBack('refused')
})
