// A stack deployed on the machine's real Swarm, its services' definitions read as the controller
// saves them, written back as a stack file, and that file deployed under another name: each
// service's spec must come back the same, but for the names the stack's own name is part of.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { parse } from 'yaml'
import { readDefinition, readStackDefinitions, type ServiceDefinition } from '../../lib/swarm/definition.js'
import { makeStackObjects } from '../../lib/swarm/stack-objects.js'
import { stackFile } from '../../lib/recover/stack-file.js'
import { useHostEngine } from '../fixtures/docker.js'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const ORIGINAL = 'rdsdef'
const COPY = 'rdsdefcopy'
const STACK = `version: "3.8"
services:
  app:
    image: debian:trixie-slim
    entrypoint: [sh, -c]
    command: ['echo "$$GREETING" > /data/hello; exec sleep infinity']
    environment:
      GREETING: costs $$5
      DB_PASSWORD: not-to-be-saved
      DATABASE_URL: postgres://app:also-not-saved@db/app
      DB_PASSWORD_FILE: /run/secrets/db
    labels: [container.label=one]
    working_dir: /data
    user: "0:0"
    hostname: app-host
    init: true
    stop_grace_period: 3s
    stop_signal: SIGINT
    extra_hosts: ["printer.local:10.0.0.9"]
    healthcheck: { test: [CMD-SHELL, test -f /data/hello], interval: 2s, timeout: 1s, retries: 3, start_period: 1s }
    volumes:
      - data:/data
      - type: tmpfs
        target: /scratch
        tmpfs: { size: 1000000 }
    networks: [back]
    secrets: [{ source: db, target: db, mode: 0400 }]
    configs: [{ source: settings, target: /etc/app.conf, mode: 0444 }]
    logging: { driver: json-file, options: { max-size: 1m } }
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      labels: [rds.backup=true, rds.backup.run-at=0 3 * * *]
      placement:
        constraints: [node.role == manager]
        preferences: [{ spread: node.id }]
        max_replicas_per_node: 2
      update_config: { parallelism: 1, delay: 5s, order: start-first, failure_action: rollback, monitor: 10s }
      restart_policy: { condition: on-failure, delay: 2s, max_attempts: 3, window: 30s }
      resources: { limits: { cpus: "0.5", memory: 64M }, reservations: { memory: 16M } }
  front:
    image: debian:trixie-slim
    command: [sleep, infinity]
    networks: [back]
volumes:
  data:
    labels: [volume.label=two]
networks:
  back:
    driver: overlay
    attachable: true
configs:
  settings:
    file: ./app.conf
secrets:
  db:
    file: ./db-secret
`

// The spec without what the stack's name makes different, or Docker fills in per service.
function comparable(spec: Record<string, any>, stack: string, ids: Map<string, string>) {
  const text = JSON.stringify(spec, (key, value) => {
    // The copy uses the original's secret, by its name: created by the user, never by the export.
    if (key === 'SecretName' || typeof value !== 'string') return value
    if (value === stack) return 'STACK'
    if (['Name', 'ConfigID', 'Target'].includes(key)) return ids.get(value) ?? value.replace(`${stack}_`, 'STACK_')
    return value.replaceAll(`${stack}_`, 'STACK_')
  })
  const parsed = JSON.parse(text)
  delete parsed.Labels['com.docker.stack.image']
  return parsed
}

t.test('a stack written from the saved definitions deploys as the same services', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-stackfile-'))
  const docker = new Docker()
  const cleanUp = async () => {
    for (const stack of [COPY, ORIGINAL]) await execa('docker', ['stack', 'rm', stack], { reject: false })
    // docker stack rm returns before its networks and configs are gone.
    for (let tries = 0; tries < 30 && (await execa('docker', ['network', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${ORIGINAL}`])).stdout; tries++) await new Promise((done) => setTimeout(done, 1000))
    await execa('docker', ['volume', 'rm', `${ORIGINAL}_data`, `${COPY}_data`], { reject: false })
  }
  t.teardown(async () => {
    await cleanUp()
    await rm(dir, { recursive: true, force: true })
  })
  await writeFile(join(dir, 'stack.yml'), STACK)
  await writeFile(join(dir, 'app.conf'), 'setting = 1\n')
  await writeFile(join(dir, 'db-secret'), 'hunter2')
  await execa('docker', ['stack', 'deploy', '-c', join(dir, 'stack.yml'), ORIGINAL], { cwd: dir })

  const definitions = await readStackDefinitions(docker, `${ORIGINAL}_app`)
  t.same(definitions.map((definition) => definition.name), [`${ORIGINAL}_app`, `${ORIGINAL}_front`], "the service's, then its stack's others, which have no backup of their own")
  t.same(definitions[0]!.withheld.sort(), ['DATABASE_URL', 'DB_PASSWORD'], 'the password variable and the URL with a password are withheld')
  t.notMatch(JSON.stringify(definitions), /not-to-be-saved|also-not-saved|hunter2/, 'no secret value is in the definitions')
  t.equal(definitions[0]!.stack, ORIGINAL)

  const file = stackFile(ORIGINAL, definitions)
  t.same(file.notCarried, [], 'everything set is carried')
  t.same(file.configFiles.map((entry) => [entry.path, entry.data.toString()]), [['configs/settings', 'setting = 1\n']])
  t.same(parse(file.yaml).secrets, { db: { external: true, name: `${ORIGINAL}_db` } }, 'the secret by its name, to be there already')
  const out = join(dir, 'copy')
  await execa('mkdir', ['-p', join(out, 'configs')])
  await writeFile(join(out, 'stack.yml'), file.yaml)
  for (const entry of file.configFiles) await writeFile(join(out, entry.path), entry.data)
  const deployed = await execa('docker', ['stack', 'deploy', '-c', 'stack.yml', COPY], { cwd: out, env: { DB_PASSWORD: 'not-to-be-saved', DATABASE_URL: 'postgres://app:also-not-saved@db/app' }, reject: false, all: true })
  t.equal(deployed.exitCode, 0, deployed.all)

  const inspect = async (name: string) => ((await docker.getService(name).inspect()) as { Spec: Record<string, any> }).Spec
  // IDs of the networks and configs, which differ between the stacks, as their names.
  const ids = new Map<string, string>()
  for (const network of (await docker.listNetworks()) as { Id: string; Name: string }[]) ids.set(network.Id, network.Name.replace(/^rdsdef(copy)?_/, 'STACK_'))
  for (const config of (await docker.listConfigs()) as { ID: string; Spec: { Name: string } }[]) ids.set(config.ID, config.Spec.Name.replace(/^rdsdef(copy)?_/, 'STACK_'))
  for (const service of ['app', 'front']) {
    const [original, copy] = [await inspect(`${ORIGINAL}_${service}`), await inspect(`${COPY}_${service}`)]
    for (const spec of [original, copy]) spec.TaskTemplate.ContainerSpec.Env?.sort()
    t.same(comparable(copy, COPY, ids), comparable(original, ORIGINAL, ids), `${service}: the same spec, but for the stack's name`)
  }
})

t.test('what a stack file cannot say is named, never dropped in silence', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const name = 'rds-def-group'
  await execa('docker', ['service', 'create', '--detach', '--name', name, '--group', '1234', '--replicas', '0', 'debian:trixie-slim', 'sleep', 'infinity'])
  t.teardown(() => execa('docker', ['service', 'rm', name], { reject: false }))
  const file = stackFile('any', [await readDefinition(new Docker(), name)])
  t.same(file.notCarried, [`${name}: ContainerSpec.Groups`])
})

t.test('a stack is not made on a Swarm that lacks a secret or an external network it names: each is named, and nothing is made', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const docker = new Docker()
  const definition: ServiceDefinition = {
    version: 1,
    name: 'rdslack_app',
    stack: 'rdslack',
    spec: { Name: 'rdslack_app', TaskTemplate: { ContainerSpec: { Image: 'debian:trixie-slim', Secrets: [{ SecretName: 'rds-no-such-secret', SecretID: 'x' }] }, Networks: [{ Target: 'old-own' }, { Target: 'old-external' }] } },
    withheld: [],
    networks: { 'old-own': { Name: 'rdslack_default', Driver: 'overlay', Labels: { 'com.docker.stack.namespace': 'rdslack' } }, 'old-external': { Name: 'rds-no-such-network', Driver: 'overlay' } },
    configs: {},
  }
  await t.rejects(makeStackObjects(docker, 'rdslack', [definition]), /^stack rdslack needs what this Swarm does not have: secret rds-no-such-secret \(docker secret create rds-no-such-secret FILE\), network rds-no-such-network \(docker network create --driver overlay rds-no-such-network\); create them first, then run this again\.$/)
  const made = (await docker.listNetworks({ filters: { name: ['rdslack_'] } })) as unknown[]
  t.same(made, [], 'no network was made')
})
