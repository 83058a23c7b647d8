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

t.test('a scale-back refused twice is tried again and holds', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-scale-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const proxy = await refusingProxy(t, dir)
  const docker = new Docker({ socketPath: proxy.socketPath })
  await execa('docker', ['service', 'create', '--detach', '--name', SERVICE, '--replicas', '2', '--init', 'debian:trixie-slim', 'sleep', 'infinity'])
  t.teardown(() => execa('docker', ['service', 'rm', SERVICE], { reject: false }))
  const { log, text } = captureLogger()
  t.equal(await scaleDown(docker, SERVICE, log), 2)
  proxy.refuse(2, { method: 'POST', path: /^\/services\/[^/]+\/update/ }, 500, 'rpc error: code = Unknown desc = update out of sequence')
  await scaleBack(docker, SERVICE, log)
  t.equal(proxy.refused(), 2, 'two updates were refused')
  t.match(text(), /WARN\s+stop: could not scale rds-scale-retry back \(.*update out of sequence.*\); trying again in 1 s/)
  t.match(text(), /trying again in 2 s/)
  const spec = JSON.parse((await execa('docker', ['service', 'inspect', SERVICE])).stdout)[0].Spec
  t.equal(spec.Mode.Replicated.Replicas, 2, 'back at 2 replicas')
  t.equal(spec.Labels['rds.scaled-from'], undefined, 'and the record removed')
})
