// What rds restore --service refuses before it stops or writes anything, on the machine's real
// Swarm (one node): a global service whose volume its nodes share, and a job service an earlier,
// cut-off restore of the same job left running. The restores themselves run on the 3-node Swarm
// (test/3-node/swarm.ts).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { readSwarm } from '../../lib/swarm/cluster.js'
import { discoverJobs } from '../../lib/swarm/discover.js'
import { JobLedger } from '../../lib/swarm/job-ledger.js'
import { restoreService, type RestoreDeps } from '../../lib/recover/service-restore.js'
import { useHostEngine } from '../fixtures/docker.js'
import { captureLogger } from '../fixtures/log.js'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)
const SHARED = 'rds-restore-shared'
const APP = 'rds-restore-app'
const LEFTOVER = 'rds-restore-leftover'
const ENDED = 'rds-restore-ended'
const VOLUME = 'rds-restore-data'

t.test('refused before anything is stopped or written', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const docker = new Docker()
  const dir = await mkdtemp(join(tmpdir(), 'rds-restore-'))
  const removeAll = () => execa('docker', ['service', 'rm', SHARED, APP, LEFTOVER, ENDED], { reject: false })
  t.teardown(async () => {
    await removeAll()
    // Its containers go a moment after their services.
    for (let i = 0; i < 120 && (await execa('docker', ['volume', 'rm', VOLUME], { reject: false })).exitCode !== 0; i++) await new Promise((done) => setTimeout(done, 250))
    await rm(dir, { recursive: true, force: true })
  })
  await removeAll()
  await execa('docker', ['volume', 'create', VOLUME])
  const labels = ['--label', 'rds.backup=true', '--label', 'rds.backup.run-at=0 0 1 1 *']
  // Its spec says NFS (the volume that exists already on this node is what its task mounts).
  await execa('docker', ['service', 'create', '--detach', '--name', SHARED, '--mode', 'global', ...labels, '--mount', `type=volume,src=${VOLUME},dst=/data,volume-driver=local,volume-opt=type=nfs,volume-opt=o=addr=192.0.2.1,volume-opt=device=:/export`, '--init', 'debian:trixie-slim', 'sleep', 'infinity'])
  await execa('docker', ['service', 'create', '--detach', '--name', APP, ...labels, '--mount', `type=volume,src=${VOLUME},dst=/data`, '--init', 'debian:trixie-slim', 'sleep', 'infinity'])
  // What restores whose command was cut off leave: a job service that still runs (its safety
  // snapshot), and one that has ended (its dump's load).
  await execa('docker', ['service', 'create', '--detach', '--name', LEFTOVER, '--label', `rds.job=safety-${APP}`, '--restart-condition', 'none', '--init', 'debian:trixie-slim', 'sleep', 'infinity'])
  await execa('docker', ['service', 'create', '--detach', '--name', ENDED, '--label', `rds.job=restore-dump-${APP}`, '--replicas', '0', 'debian:trixie-slim', 'true'])
  const nodeName = (await execa('docker', ['info', '--format', '{{.Name}}'])).stdout.trim()
  let found: ReturnType<typeof discoverJobs> = []
  const leftoverRuns = async () => (await execa('docker', ['service', 'ps', '-q', '-f', 'desired-state=running', LEFTOVER])).stdout !== ''
  for (let i = 0; i < 240 && (found.filter((job) => job.node).length < 2 || !(await leftoverRuns())); i++) {
    const swarm = await readSwarm(docker)
    found = discoverJobs(swarm.services.filter((service) => [SHARED, APP].includes(service.name)), { retention: { prune: false }, repoPath: 'unused', maxRunTime: 60_000 }, swarm.nodes)
    await new Promise((done) => setTimeout(done, 250))
  }
  const swarm = await readSwarm(docker)
  const { log, text } = captureLogger()
  const deps: RestoreDeps = {
    docker,
    template: { image: 'restic-docker-swarm-agent:latest', networks: [], secrets: [] },
    ledger: await JobLedger.of(docker, join(dir, 'ended-jobs')),
    jobEnv: [],
    lockDir: dir,
    resticFor: () => {
      throw new Error('no repository is read before the refusal')
    },
  }
  const restore = (name: string) => {
    const job = found.find((each) => each.service === name)!
    const service = swarm.services.find((each) => each.name === name)!
    return restoreService(deps, { job, service, snapshot: 'latest', includes: [], rejected: [] }, log)
  }
  t.equal(found.find((job) => job.service === SHARED)?.name, `${SHARED}@${nodeName}`)
  await t.rejects(restore(SHARED), { message: new RegExp(`^service ${SHARED} is global and its volume ${VOLUME} is shared by its nodes .*: a restore on one node would rewrite it under its tasks on the others`) })
  await t.rejects(restore(APP), { message: new RegExp(`^job service ${LEFTOVER} of an earlier restore of ${APP} still runs \\(that restore was cut off\\), and could write into its volumes with this one`) })
  t.equal((await execa('docker', ['service', 'inspect', ENDED], { reject: false })).exitCode, 1, 'the one that ended is removed')
  t.match(text(), new RegExp(`restore: removed job service ${ENDED}, which an earlier restore of ${APP} left after it ended`))
  await execa('docker', ['service', 'rm', LEFTOVER])
  await t.rejects(restore(APP), { message: 'no repository is read before the refusal' }, 'once it is gone, the restore goes on')
  const spec = JSON.parse((await execa('docker', ['service', 'inspect', SHARED, APP])).stdout) as { Spec: { Labels: Record<string, string>; Mode: { Replicated?: { Replicas: number } }; TaskTemplate: { Placement?: { Constraints?: string[] } } } }[]
  t.same(spec.map((each) => [Object.keys(each.Spec.Labels).filter((label) => !label.startsWith('rds.backup')), each.Spec.TaskTemplate.Placement?.Constraints ?? [], each.Spec.Mode.Replicated?.Replicas]), [[[], [], undefined], [[], [], 1]], 'neither was stopped, marked or scaled')
  t.notMatch(text(), /stop:/, 'nothing was stopped')
})
