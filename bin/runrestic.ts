#!/usr/bin/env node
import { exitCodeAfterDrain } from '../lib/cli/drain.js'
import { main } from '../lib/cli/runrestic.js'

const stop = new AbortController()
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => stop.abort())
process.stdout.on('error', () => undefined)

const exitCode = await main(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stop: stop.signal,
})
// Exit only once stdout and stderr have drained: a slow reader still gets every byte.
process.exitCode = await exitCodeAfterDrain(exitCode, 'runrestic', process.stdout, process.stderr)
process.exit()
