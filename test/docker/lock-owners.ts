// Who made a lock, as the machine's real single-node Swarm tells it.
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { swarmLockOwner } from '../../lib/docker/lock-owners.js'
import type { ResticLock } from '../../lib/restic/locks.js'
import { swarmUnavailable } from '../fixtures/docker.js'

const missing = await swarmUnavailable()
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const JOB = 'rds-job-lock-owner-test'
const ENDED = 'rds-lock-owner-ended'
const lock = (hostname: string): ResticLock => ({ id: 'a'.repeat(64), time: new Date().toISOString(), exclusive: true, hostname, pid: 42 })

t.test('against a real Swarm', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const docker = (args: string[]) => execa('docker', args, { reject: false })
  t.teardown(() => docker(['service', 'rm', JOB, ENDED]))
  const ownerIsDead = swarmLockOwner(new Docker())

  t.match(await ownerIsDead(lock('rds-job-app-lx9k2')), /^made by the job rds-job-app-lx9k2, which no longer exists/, 'a job service that is gone')
  await execa('docker', ['service', 'create', '--detach', '--name', JOB, '--replicas', '0', 'debian:trixie-slim', 'true'])
  t.equal(await ownerIsDead(lock(JOB)), undefined, 'a job service that exists may still run its restic')

  // A task whose container has ended, as a killed controller's.
  await execa('docker', ['service', 'create', '--detach', '--name', ENDED, '--restart-condition', 'none', 'debian:trixie-slim', 'true'])
  let container = ''
  for (let i = 0; i < 300 && !container; i++) {
    const task = (await docker(['service', 'ps', ENDED, '--format', '{{.ID}} {{.CurrentState}}'])).stdout
    if (/Complete/.test(task)) container = (await docker(['inspect', '-f', '{{.Status.ContainerStatus.ContainerID}}', task.split(' ')[0]!])).stdout.trim()
    else await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.match(await ownerIsDead(lock(container.slice(0, 12))), /^made in container [0-9a-f]{12} of Swarm task \w+, which has ended \(complete\)$/)

  const running = (await execa('docker', ['info', '--format', '{{.Name}}'])).stdout.trim()
  t.equal(await ownerIsDead(lock(running)), undefined, 'a host name Swarm does not know: maybe alive')
  t.equal(await ownerIsDead(lock('0123456789ab')), undefined, 'a container ID no task has: maybe alive')
})
