import type { Command } from 'commander'
import { EXIT } from '../errors.js'
import type { CommandContext } from './context.js'

/** The start of a line this command writes to stderr: restic shows it among the dump's own lines. */
export const DUMP_STREAM_PREFIX = 'rds dump:'

/**
 * Not for people: what `restic backup --stdin-from-command` runs for a dump. It runs the dump in
 * the container and hands its stdout to restic, with backpressure; its exit code is the dump's,
 * so that restic saves no snapshot of a dump that failed, was cut off, or wrote nothing.
 */
export function addDumpStreamCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('dump-stream', { hidden: true })
    .argument('<container>', 'the container the dump runs in')
    .argument('<argv...>', 'the dump command')
    .action(async (containerId: string, argv: string[]) => {
      const [{ default: Docker }, { execStreaming }] = await Promise.all([import('dockerode'), import('../docker/exec-stream.js')])
      const { exitCode, stdoutBytes } = await execStreaming(new Docker(), containerId, argv, {
        stdout: cli.stdout,
        onStderr: (chunk) => cli.stderr.write(chunk),
        signal: cli.stop,
      })
      const fail = (reason: string) => {
        cli.stderr.write(`${DUMP_STREAM_PREFIX} ${reason}\n`)
        setExitCode(EXIT.failure)
      }
      if (exitCode === undefined) fail(`the connection to the container ended while the dump still ran, after ${stdoutBytes} bytes: the dump is cut off`)
      else if (exitCode !== 0) {
        cli.stderr.write(`${DUMP_STREAM_PREFIX} the dump command exited with code ${exitCode} after ${stdoutBytes} bytes\n`)
        setExitCode(exitCode)
      } else if (stdoutBytes === 0) fail('the dump command exited 0 but wrote nothing to stdout: an empty dump is not a backup')
    })
}
