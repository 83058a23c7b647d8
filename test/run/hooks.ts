import t from 'tap'
import { RunError } from '../../lib/errors.js'
import { chooseHookContainer, runHook } from '../../lib/run/hooks.js'
import type { HookEngine, ServiceContainer } from '../../lib/docker/engine.js'
import { captureLogger } from '../fixtures/log.js'

// The hooks' Docker side runs against a real engine in the images' end-to-end test; here an
// in-memory engine checks which container is chosen and how the outcome is reported.
function engine(node: string, containers: ServiceContainer[], exitCode = 0, output: ['stdout' | 'stderr', string][] = []) {
  const execs: { containerId: string; argv: string[]; env: string[] }[] = []
  const fake: HookEngine = {
    serviceContainers: async () => ({ node, containers }),
    pause: async () => undefined,
    unpause: async () => undefined,
    exec: async (containerId, argv, env, onLine) => {
      execs.push({ containerId, argv, env })
      for (const [stream, line] of output) onLine(stream, line)
      return exitCode
    },
  }
  return { fake, execs }
}

const task = (id: string, slot?: number): ServiceContainer => ({ taskId: id, containerId: `container-${id}`, slot })

t.test("the container of this node's lowest slot is chosen, so that the same replica runs the hook each time", async (t) => {
  t.equal((await chooseHookContainer(engine('node-a', [task('t3', 3), task('t2', 2), task('t1', 1)]).fake, 'app_db')).taskId, 't1')
  // A global service's tasks have no slot: the task ID decides.
  t.equal((await chooseHookContainer(engine('node-a', [task('tb'), task('ta')]).fake, 'app_db')).taskId, 'ta')
})

t.test('no container of the service on this node fails the run with a message that says so', async (t) => {
  await t.rejects(chooseHookContainer(engine('node-a', []).fake, 'app_db'), {
    name: 'RunError',
    message: /^service app_db has no running container on this node \(node-a\) to run the hook in; hooks run only in containers on the backup's own node/,
  })
})

t.test('the hook runs with sh -c in exactly one container and its output is logged', async (t) => {
  const { fake, execs } = engine('n', [task('t1', 1), task('t2', 2)], 0, [['stdout', 'dumped 3 tables'], ['stderr', 'a warning']])
  const { log, text } = captureLogger()
  await runHook(fake, { name: 'pre-hook', variable: 'PRE_HOOK', service: 'app_db', command: 'pg_dump db > /dump/db.sql', env: ['A=1'] }, log)
  t.same(execs, [{ containerId: 'container-t1', argv: ['sh', '-c', 'pg_dump db > /dump/db.sql'], env: ['A=1'] }])
  t.match(text(), /INFO  pre-hook: running in app_db \(task t1, container container-t1\)/)
  t.match(text(), /INFO  pre-hook: dumped 3 tables/)
  t.match(text(), /WARN  pre-hook: a warning/)
  t.match(text(), /INFO  pre-hook: done/)
})

t.test('a failing hook is a RunError naming the variable and the exit code', async (t) => {
  const { fake } = engine('n', [task('t1', 1)], 7)
  const { log } = captureLogger()
  const error = await runHook(fake, { name: 'post-hook', variable: 'POST_HOOK', service: 'app_db', command: 'false' }, log).catch((e) => e)
  t.type(error, RunError)
  t.equal(error.message, 'post-hook (POST_HOOK) exited with code 7 in service app_db.')
})
