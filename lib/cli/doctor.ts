import type { Command } from 'commander'
import type Docker from 'dockerode'
import { EXIT } from '../errors.js'
import { preflight, type Finding, type PreflightDocker } from '../doctor/preflight.js'
import type { Logger } from '../observe/log.js'
import { lazyDockerEngine, type CliContext, type CommandContext } from './context.js'
import { writeOut } from '../output.js'

export function dockerForPreflight(): PreflightDocker {
  let docker: Promise<Docker> | undefined
  return { docker: () => (docker ??= import('dockerode').then(({ default: Client }) => new Client())), engine: lazyDockerEngine() }
}

export const describeFinding = (finding: Finding) => `${finding.ok ? 'ok  ' : 'FAIL'}  ${finding.what}: ${finding.detail}`

/** The agent's preflight at start: each problem an ERROR line, and one line for what passed. */
export async function logPreflight(cli: CliContext, log: Logger): Promise<void> {
  const findings = await preflight(cli.env, dockerForPreflight())
  const problems = findings.filter((finding) => !finding.ok)
  for (const problem of problems) log.error(`preflight: ${problem.what}: ${problem.detail}`)
  log.info(`preflight: ${findings.length - problems.length} of ${findings.length} checks passed${problems.length > 0 ? '; see rds doctor' : ''}`)
}

export function addDoctorCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('doctor')
    .description('check everything a backup needs without taking one: the configuration, restic, the secrets, the server and its host key, the repository password, the backup path and the hooks\' containers (with MODE=swarm: every labelled service and repository); exit 0 only if all is well')
    .option('--json', 'print the checks as JSON ({ ok, checks: [{ what, ok, detail }] }), for scripts')
    .action(async (options: { json?: boolean }) => {
      const findings = await preflight(cli.env, dockerForPreflight())
      if (options.json) await writeOut(cli.stdout, `${JSON.stringify({ ok: findings.every((finding) => finding.ok), checks: findings.map(({ what, ok, detail }) => ({ what, ok, detail })) }, null, 2)}\n`)
      else for (const finding of findings) await writeOut(cli.stdout, `${describeFinding(finding)}\n`)
      if (findings.some((finding) => !finding.ok)) setExitCode(EXIT.failure)
    })
}
