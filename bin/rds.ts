#!/usr/bin/env node
import { exitCodeAfterDrain } from '../lib/cli/drain.js'
import { main } from '../lib/cli/rds.js'

const stop = new AbortController()
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop.abort())
// A reader that goes away (rds export | head) fails the command, with a sentence rather than a stack trace.
process.stdout.on('error', () => undefined)

const exitCode = await main(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  stop: stop.signal,
})
// Exit only once stdout and stderr have drained: a slow reader still gets every byte.
process.exitCode = await exitCodeAfterDrain(exitCode, 'rds', process.stdout, process.stderr)
process.exit()
