// One controller at a time, on the machine's real single-node Swarm: a lease is judged by how long
// its label has stood unchanged, by the waiting controller's own clock, never by the time written
// in it (the holder's clock, which may be behind).
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { ControllerLease, LEASE_LABEL } from '../../lib/swarm/lease.js'
import { useHostEngine } from '../fixtures/docker.js'
import { captureLogger } from '../fixtures/log.js'

const SERVICE = 'rds-lease-test'
const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

t.test('a running holder whose clock is behind keeps its lease: the controller in standby waits', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const docker = new Docker()
  await execa('docker', ['service', 'rm', SERVICE], { reject: false })
  t.teardown(() => execa('docker', ['service', 'rm', SERVICE], { reject: false }))
  const serviceId = (await execa('docker', ['service', 'create', '--quiet', '--name', SERVICE, '--init', 'debian:trixie-slim', 'sleep', 'infinity'])).stdout.trim()
  const holder = (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${SERVICE}`])).stdout.trim()
  t.ok(holder, 'the holder runs as a task of the service')
  // Written by a manager whose clock is ten minutes behind this one's: by its own time, the lease holds.
  const behind = new Date(Date.now() - 10 * 60_000 + 60_000).toISOString()
  await execa('docker', ['service', 'update', '--detach', '--label-add', `${LEASE_LABEL}=${holder} ${behind}`, SERVICE])

  const { log, text } = captureLogger()
  const standby = new ControllerLease(docker, serviceId, 'another-controller', log)
  const stop = new AbortController()
  const acquiring = standby.acquire(stop.signal)
  for (let i = 0; i < 300 && !/standby|takes over/.test(text()); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  stop.abort()
  t.equal(await acquiring, false, 'it did not take the lease')
  t.match(text(), new RegExp(`controller: standby: the controller in container ${holder.slice(0, 12)} holds the lease`))
  t.match((await execa('docker', ['service', 'inspect', '--format', `{{index .Spec.Labels "${LEASE_LABEL}"}}`, SERVICE])).stdout, new RegExp(`^${holder} `), 'the label still names the holder')
})
