// A global service stopped on one node for an in-place restore, and started there again, on the
// machine's real Swarm (one node): the stop and its mark, the start a mark refuses, and a saved
// definition that carries neither.
import t from 'tap'
import Docker from 'dockerode'
import { execa } from 'execa'
import { markRestoringOn, noTaskOn, startOnNode, stopOnNode } from '../../lib/swarm/node-stop.js'
import { readDefinition } from '../../lib/swarm/definition.js'
import { useHostEngine } from '../fixtures/docker.js'
import { captureLogger } from '../fixtures/log.js'

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)
const SERVICE = 'rds-node-stop'

t.test('stopped on its node and started there again; a restoring mark keeps it stopped', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const docker = new Docker()
  await execa('docker', ['service', 'create', '--detach', '--name', SERVICE, '--mode', 'global', '--constraint', 'node.role == manager', '--init', 'debian:trixie-slim', 'sleep', 'infinity'])
  t.teardown(() => execa('docker', ['service', 'rm', SERVICE], { reject: false }))
  const nodeId = (await execa('docker', ['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim()
  const running = async () => (await execa('docker', ['ps', '-q', '-f', `label=com.docker.swarm.service.name=${SERVICE}`])).stdout.trim()
  const spec = async () => JSON.parse((await execa('docker', ['service', 'inspect', SERVICE])).stdout)[0].Spec
  const { log } = captureLogger()
  for (let i = 0; !(await running()) && i < 240; i++) await new Promise((done) => setTimeout(done, 250))
  t.ok(await running(), 'it runs')

  t.equal(await stopOnNode(docker, SERVICE, nodeId, log), undefined, 'no mark found: no restore of it there was cut off')
  await noTaskOn(docker, SERVICE, nodeId)
  t.equal(await running(), '', 'no container of it on the node')
  const stopped = await spec()
  t.same(stopped.TaskTemplate.Placement.Constraints, ['node.role == manager', `node.id != ${nodeId}`], 'its own constraint kept, one added')
  t.same(stopped.Labels, { [`rds.stopped-on.${nodeId}`]: 'restore' })
  await markRestoringOn(docker, SERVICE, nodeId, 'volumes from 0123abcd')
  t.match((await spec()).Labels, { [`rds.restoring.${nodeId}`]: 'volumes from 0123abcd' })
  t.equal(await stopOnNode(docker, SERVICE, nodeId, log), 'volumes from 0123abcd', 'a second stop finds the mark')
  const saved = await readDefinition(docker, SERVICE)
  t.same((saved.spec as typeof stopped).TaskTemplate.Placement.Constraints, ['node.role == manager'], 'the saved definition has its own placement')
  t.same(Object.keys((saved.spec as typeof stopped).Labels ?? {}), [], 'and none of the marks')

  t.equal(await startOnNode(docker, SERVICE, nodeId, log, true), 'marked', 'marked restoring: not started')
  t.same((await spec()).TaskTemplate.Placement.Constraints, ['node.role == manager', `node.id != ${nodeId}`], 'its stop kept')
  await markRestoringOn(docker, SERVICE, nodeId, undefined)
  t.equal(await startOnNode(docker, SERVICE, nodeId, log, true), 'started')
  t.ok(await running(), 'it runs there again')
  const started = await spec()
  t.same(started.TaskTemplate.Placement.Constraints, ['node.role == manager'])
  t.same(Object.keys(started.Labels ?? {}), [], 'no label left')

  // A stop an update undid (a docker stack deploy puts the service's own placement back): no mark, no write.
  await stopOnNode(docker, SERVICE, nodeId, log)
  await execa('docker', ['service', 'update', '--detach', '--constraint-rm', `node.id != ${nodeId}`, SERVICE])
  await t.rejects(markRestoringOn(docker, SERVICE, nodeId, 'volumes from 0123abcd'), { message: `service ${SERVICE} is no longer stopped on node ${nodeId} (an update of it, such as a docker stack deploy, put its own placement back), so its volumes there were not written.` })
  t.equal(await startOnNode(docker, SERVICE, nodeId, log, true), 'started', 'its label lifted too')
  t.equal(await startOnNode(docker, SERVICE, nodeId, log, true), 'not stopped')

  // Undone while its volumes were written: the mark is not removed as if all were well.
  await stopOnNode(docker, SERVICE, nodeId, log)
  await markRestoringOn(docker, SERVICE, nodeId, 'volumes from 0123abcd')
  await execa('docker', ['service', 'update', '--detach', '--constraint-rm', `node.id != ${nodeId}`, '--label-rm', `rds.stopped-on.${nodeId}`, SERVICE])
  await t.rejects(markRestoringOn(docker, SERVICE, nodeId, undefined), { message: /put its own placement back while its volumes there were written, so its task there may have run on them half-written/ })
})
