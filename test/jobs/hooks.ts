import t from 'tap'
import { RunError } from '../../lib/errors.js'
import { chooseHookTask, runHook, type HookEngine, type ServiceTask } from '../../lib/jobs/hooks.js'
import { captureLogger } from '../fixtures/log.js'

// The hooks' Docker side runs against a real engine in the images' end-to-end test; here an
// in-memory engine checks which container is chosen and how the outcome is reported.
function engine(nodeId: string, tasks: ServiceTask[], exitCode = 0, output: ['stdout' | 'stderr', string][] = []) {
  const execs: { containerId: string; argv: string[]; env: string[] }[] = []
  const fake: HookEngine = {
    localNodeId: async () => nodeId,
    runningTasks: async () => tasks,
    exec: async (containerId, argv, env, onLine) => {
      execs.push({ containerId, argv, env })
      for (const [stream, line] of output) onLine(stream, line)
      return exitCode
    },
  }
  return { fake, execs }
}

const task = (id: string, nodeId: string, slot: number): ServiceTask => ({ id, nodeId, containerId: `container-${id}`, slot })

t.test('a task on this node is chosen, the lowest slot first, even with several replicas', async (t) => {
  const { fake } = engine('node-a', [task('t3', 'node-a', 3), task('t1', 'node-b', 1), task('t2', 'node-a', 2)])
  t.equal((await chooseHookTask(fake, 'app_db')).id, 't2')
})

t.test('no running task, or none on this node, fails the run with a message that says so', async (t) => {
  await t.rejects(chooseHookTask(engine('node-a', []).fake, 'app_db'), { name: 'RunError', message: /^service app_db has no running task to run the hook in/ })
  await t.rejects(chooseHookTask(engine('node-a', [task('t1', 'node-b', 1), task('t2', 'node-c', 2)]).fake, 'app_db'), {
    name: 'RunError',
    message: /^service app_db has 2 running task\(s\) but none on this node \(node-a\); the agent can only run hooks in containers on its own node/,
  })
})

t.test('the hook runs with sh -c in exactly one container and its output is logged', async (t) => {
  const { fake, execs } = engine('n', [task('t1', 'n', 1), task('t2', 'n', 2)], 0, [['stdout', 'dumped 3 tables'], ['stderr', 'a warning']])
  const { log, text } = captureLogger()
  await runHook(fake, { name: 'pre-hook', variable: 'PRE_HOOK', service: 'app_db', command: 'pg_dump db > /dump/db.sql', env: ['A=1'] }, log)
  t.same(execs, [{ containerId: 'container-t1', argv: ['sh', '-c', 'pg_dump db > /dump/db.sql'], env: ['A=1'] }])
  t.match(text(), /INFO  pre-hook: running in app_db \(task t1, container container-t1\)/)
  t.match(text(), /INFO  pre-hook: dumped 3 tables/)
  t.match(text(), /WARN  pre-hook: a warning/)
  t.match(text(), /INFO  pre-hook: done/)
})

t.test('a failing hook is a RunError naming the variable and the exit code', async (t) => {
  const { fake } = engine('n', [task('t1', 'n', 1)], 7)
  const { log } = captureLogger()
  const error = await runHook(fake, { name: 'post-hook', variable: 'POST_HOOK', service: 'app_db', command: 'false' }, log).catch((e) => e)
  t.type(error, RunError)
  t.equal(error.message, 'post-hook (POST_HOOK) exited with code 7 in service app_db.')
})
