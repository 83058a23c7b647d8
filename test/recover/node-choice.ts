// How rds recover --node chooses where a lost node's service goes: room first, then the fewest tasks.
import t from 'tap'
import { chooseNode, describeRoom, hasRoom, roomNeeded } from '../../lib/recover/node-choice.js'
import type { SnapshotInfo } from '../../lib/restic/snapshots.js'

const GiB = 1024 ** 3

t.test('of the nodes with room for the data and a fifth more, the one with the fewest tasks, then the most free', async (t) => {
  const nodes = [
    { id: 'a', name: 'node-a', tasks: 1, free: 50 * GiB },
    { id: 'b', name: 'node-b', tasks: 0, free: 11 * GiB },
    { id: 'c', name: 'node-c', tasks: 0, free: 30 * GiB },
  ]
  t.equal(chooseNode(nodes, 5 * GiB).node?.name, 'node-c', 'two idle nodes: the one with more room')
  t.equal(chooseNode(nodes, 10 * GiB).node?.name, 'node-c', 'node-b has 11 GiB: less than 10 and a fifth more')
  t.equal(chooseNode(nodes, 30 * GiB).node?.name, 'node-a', 'only node-a has room, busy as it is')
  t.same(chooseNode(nodes, 45 * GiB), { problem: 'no node it may go to has room for its 45.0 GiB and a fifth more (the most free is 50.0 GiB on node-a); free space on one, or name it with --to.' })
})

t.test("a node whose free space is unknown (its survey did not answer) is not refused for it", async (t) => {
  t.ok(hasRoom({}, 100 * GiB))
  t.equal(chooseNode([{ id: 'a', name: 'node-a', tasks: 0 }, { id: 'b', name: 'node-b', tasks: 1, free: 100 * GiB }], GiB).node?.name, 'node-a')
  t.equal(describeRoom(GiB, undefined), '1.0 GiB to restore, free space unknown')
  t.equal(describeRoom(GiB, 20 * GiB), '1.0 GiB to restore of 20.0 GiB free')
})

t.test("the room a service needs: its volumes' data and twice its dump; unknown for a snapshot that does not say its size", async (t) => {
  const sized = (bytes: number) => ({ summary: { total_bytes_processed: bytes, total_files_processed: 1 } }) as SnapshotInfo
  t.equal(roomNeeded(sized(GiB), sized(GiB)), 3 * GiB)
  t.equal(roomNeeded(undefined, sized(GiB)), 2 * GiB)
  t.equal(roomNeeded({} as SnapshotInfo, undefined), undefined)
  t.equal(describeRoom(undefined, GiB), 'size unknown of 1.0 GiB free')
  t.equal(describeRoom(GiB, GiB), '1.0 GiB to restore of 1.0 GiB free: LESS ROOM THAN IT NEEDS', 'a node named with --to is gone to, and the plan says so')
})
