// Downloads as a slow reader and a stalled one makes them: the first gets every byte, at its own
// pace; the second is cut off, and restic stopped with its lock removed, once it has read nothing
// for the stall limit (5 minutes; 5 seconds here).
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { consoleFixture } from '../fixtures/console.js'
import { consoleClients } from '../fixtures/console-client.js'
import { runRestic } from '../../lib/restic/command.js'
import { listLocks } from '../../lib/restic/locks.js'
import { waitFor } from '../fixtures/swarm.js'

const { dir, log, logText, restic, backend, operatorToken, accounts } = await consoleFixture(t)
const { serve } = consoleClients({ accounts, backend, log })

// A file much larger than the sockets' buffers, in a snapshot of job "web" of its own.
const big = randomBytes(24 * 1024 * 1024)
await mkdir(join(dir, 'big'))
await writeFile(join(dir, 'big', 'big.bin'), big)
const lines: string[] = []
await runRestic(restic, ['backup', '--json', '--host', 'web', join(dir, 'big')], { log, onStdoutLine: (line) => void lines.push(line) })
const snapshot = (JSON.parse(lines.find((line) => line.includes('"summary"'))!) as { snapshot_id: string }).snapshot_id
const path = `/api/jobs/web/download?snapshot=${snapshot}&path=${encodeURIComponent(join(dir, 'big', 'big.bin'))}`

/** The download asked for on a connection of its own, whose reading the test paces. */
function download(base: string) {
  const { hostname, port } = new URL(base)
  const socket = connect(Number(port), hostname)
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${operatorToken.token}\r\nConnection: close\r\n\r\n`)
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  return { socket, closed }
}

t.test('a slow reader gets the whole file, at its own pace', async (t) => {
  const base = await serve(t, { stalledMs: 5000 })
  const { socket, closed } = download(base)
  const chunks: Buffer[] = []
  let pauses = 0
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    // Every 4 MiB or so, the reader stops for a while (shorter than the stall limit).
    if (chunks.reduce((sum, one) => sum + one.length, 0) > (pauses + 1) * 4 * 1024 * 1024) {
      pauses++
      socket.pause()
      setTimeout(() => socket.resume(), 1000)
    }
  })
  await closed
  const answer = Buffer.concat(chunks)
  const body = answer.subarray(answer.indexOf('\r\n\r\n') + 4)
  t.match(answer.subarray(0, answer.indexOf('\r\n\r\n') + 2).toString(), /^HTTP\/1\.1 200 [\s\S]*content-length: 25165824\r\n/i)
  t.ok(pauses >= 4, `the reader paused ${pauses} times`)
  t.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(big).digest('hex'), "every byte, the original's")
})

t.test('a reader that stops reading is cut off, and restic is stopped with its lock removed', async (t) => {
  const base = await serve(t, { stalledMs: 5000 })
  const { socket, closed } = download(base)
  let received = 0
  let stalled = false
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length
    if (!stalled) socket.pause()
  })
  // Said once restic has ended: its lock is then gone, removed by restic itself on SIGTERM.
  await waitFor('the stalled download said failed in the log', async () => /console: deploy \(operator\): download .*big\.bin.*: failed: /.test(logText()), 60)
  t.same(await listLocks(restic, log), [], "restic's lock is gone")
  stalled = true
  socket.on('error', () => undefined)
  socket.resume()
  await closed
  t.ok(received > 0 && received < big.length, `cut off after ${received} bytes, once the reader had stopped`)
})

t.test('a reader that goes away midway stops restic, which removes its lock', async (t) => {
  const base = await serve(t)
  const failures = () => (logText().match(/console: deploy \(operator\): download .*big\.bin.*: failed: /g) ?? []).length
  const before = failures()
  const { socket } = download(base)
  let received = 0
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length
    if (received > 1024 * 1024) socket.destroy()
  })
  await waitFor('the download cut off said failed in the log', async () => failures() > before, 60)
  t.same(await listLocks(restic, log), [], "restic's lock is gone")
})

t.test("a folder's listing, or a download's, whose asker goes away before it is answered stops restic", async (t) => {
  // restic as it is, after a pause that stands for a slow repository: its ls waits a minute first.
  const pids = join(dir, 'ls-pids')
  const slowRestic = join(dir, 'slow-restic')
  await writeFile(slowRestic, `#!/bin/bash\ncase " $* " in *" ls "*) echo $$ >> '${pids}'; sleep 60 ;; esac\nexec restic "$@"\n`, { mode: 0o755 })
  const slow = consoleClients({ accounts, backend: { ...backend, resticOf: (job) => (job === 'web' ? { ...restic, binary: slowRestic } : undefined) }, log })
  const base = await slow.serve(t)
  const running = (pid: number) => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  for (const asked of [`/api/jobs/web/files?snapshot=${snapshot}`, path]) {
    const before = await readFile(pids, 'utf8').catch(() => '')
    const leaving = new AbortController()
    const answer = fetch(`${base}${asked}`, { headers: { authorization: `Bearer ${operatorToken.token}` }, signal: leaving.signal }).catch((error: Error) => error)
    const pid = await waitFor('restic ls started', async () => Number((await readFile(pids, 'utf8').catch(() => '')).slice(before.length).trim()) || undefined, 30)
    leaving.abort()
    t.match(await answer, { name: 'AbortError' })
    await waitFor(`restic ls stopped once the asker of ${asked.split('?')[0]} left`, async () => !running(pid) || undefined, 20)
    t.pass(`restic ls of ${asked.split('?')[0]} stopped`)
  }
})
