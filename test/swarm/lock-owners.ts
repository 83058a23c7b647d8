// Who made a lock, as the machine's real single-node Swarm tells it.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { swarmLockOwner } from '../../lib/swarm/lock-owners.js'
import { JobLedger } from '../../lib/swarm/job-ledger.js'
import type { ResticLock } from '../../lib/restic/locks.js'
import { useHostEngine } from '../fixtures/docker.js'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const ENDED = 'rds-lock-owner-ended'
const lock = (hostname: string, minutesOld = 0): ResticLock => ({ id: 'a'.repeat(64), time: new Date(Date.now() - minutesOld * 60_000).toISOString(), exclusive: true, hostname, pid: 42 })

t.test('against a real Swarm', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const docker = (args: string[]) => execa('docker', args, { reject: false })
  t.teardown(() => docker(['service', 'rm', ENDED]))
  const dir = await mkdtemp(join(tmpdir(), 'rds-ledger-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ledger = await JobLedger.of(new Docker(), join(dir, 'locks', 'ended-jobs'))
  const ownerIsDead = swarmLockOwner(new Docker(), ledger)
  const JOB = ledger.serviceName('lock-owner-test')
  t.teardown(() => docker(['service', 'rm', JOB]))
  t.match(JOB, /^rds-job-[a-z0-9]{8}-lock-owner-test-[a-z0-9]+$/, "a job's name carries this Swarm's ID")

  const gone = ledger.serviceName('app')
  t.equal(await ownerIsDead(lock(gone)), undefined, 'a fresh lock of a job service that is gone may be alive (its node may be cut off)')
  t.match(await ownerIsDead(lock(gone, 11)), /^made by the job rds-job-\S+, which no longer exists, and not refreshed for 11 min \(restic refreshes a live lock every 5 min\)$/)
  const otherSwarm = 'rds-job-zzzzzzzz-app-lx9k2'
  t.equal(await ownerIsDead(lock(otherSwarm, 20)), undefined, "another Swarm's job is left to restic's own rule, however old")
  t.equal(await ownerIsDead(lock('rds-job-app-lx9k2', 20)), undefined, 'so is a job named the old way, with no Swarm ID')
  const ended = ledger.serviceName('ended')
  await ledger.recordEnded(ended, 'failed')
  t.match(await ownerIsDead(lock(ended)), /^made by the job rds-job-\S+, whose task ended \(failed\)$/, 'a job seen to end: dead at once')
  const another = swarmLockOwner(new Docker(), await JobLedger.of(new Docker(), join(dir, 'locks', 'ended-jobs')))
  t.match(await another(lock(ended)), /whose task ended \(failed\)/, 'also to another process of the controller\'s container (rds backup --service beside it)')

  await execa('docker', ['service', 'create', '--detach', '--name', JOB, '--replicas', '0', 'debian:trixie-slim', 'true'])
  t.equal(await ownerIsDead(lock(JOB, 20)), undefined, 'a job service that exists may still run its restic')

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
