// Placement constraints held against nodes as `docker node inspect` shows them, as Swarm's scheduler reads them.
import t from 'tap'
import { meetsConstraints, namesOneNode, type NodeFacts } from '../../lib/swarm/placement.js'

const worker: NodeFacts = {
  ID: 'abc123',
  Description: { Hostname: 'Worker-2', Platform: { OS: 'linux', Architecture: 'x86_64' }, Engine: { Labels: { disk: 'ssd' } } },
  Spec: { Role: 'worker', Labels: { zone: 'b' } },
}

t.test('the keys Swarm knows, == and !=, case-insensitive, a missing label equal to nothing', async (t) => {
  t.ok(meetsConstraints(worker, []))
  t.ok(meetsConstraints(worker, ['node.role == worker', 'node.labels.zone==b', 'engine.labels.disk == SSD', 'node.platform.os == linux']))
  t.ok(meetsConstraints(worker, ['node.hostname == worker-2', 'node.id != other']))
  t.notOk(meetsConstraints(worker, ['node.role == manager']))
  t.notOk(meetsConstraints(worker, ['node.labels.zone != b']))
  t.notOk(meetsConstraints(worker, ['node.labels.gpu == true']), 'a label the node lacks is not equal')
  t.ok(meetsConstraints(worker, ['node.labels.gpu != true']), 'and differs')
  t.throws(() => meetsConstraints(worker, ['node.spec.whatever == 1']), /the constraint "node\.spec\.whatever == 1" is not one rds can check/)
  t.throws(() => meetsConstraints(worker, ['nonsense']), /not one rds can check/)
})

t.test('a constraint that names one node', async (t) => {
  t.ok(namesOneNode('node.hostname == rds-sim3'))
  t.ok(namesOneNode('node.id==abc'))
  t.notOk(namesOneNode('node.hostname != rds-sim3'))
  t.notOk(namesOneNode('node.role == manager'))
})
