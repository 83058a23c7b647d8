import { EXIT, RunError } from '../errors.js'
import type { Repository } from './repository.js'

// What ssh prints (through restic's stderr) for each way a connection fails.
const SSH_FAILURES: { pattern: RegExp; explain: (repository: Repository, line: string) => string }[] = [
  {
    // The server's forced command for a confined key, refusing a request: its words say what to do.
    pattern: /rds-serve: /,
    explain: (r, line) => `the SSH server ${r.ssh?.destination} refused: ${line.replace(/^.*rds-serve: /, '').replace(/\.$/, '')}.`,
  },
  {
    pattern: /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/,
    explain: (r) =>
      `the SSH server ${r.ssh?.destination} presented a host key that does not match SSH_KNOWN_HOSTS_FILE (${r.ssh?.knownHostsFile}); ` +
      `refusing to connect: if the server really was re-created, replace the known_hosts secret with its new /etc/ssh/host_fingerprints/known_hosts.`,
  },
  {
    pattern: /Host key verification failed|No .* host key is known for/,
    explain: (r) =>
      `SSH_KNOWN_HOSTS_FILE (${r.ssh?.knownHostsFile}) has no host key for the SSH server ${r.ssh?.destination}; ` +
      `create it from the server's /etc/ssh/host_fingerprints/known_hosts.`,
  },
  {
    pattern: /Permission denied \(/,
    explain: (r) =>
      `the SSH server ${r.ssh?.destination} refused the key in SSH_PRIVKEY_FILE (${r.ssh?.privkeyFile}); ` +
      `add its public key to the server's authorized keys, or check the user in SSH_HOST.`,
  },
  {
    pattern: /Could not resolve hostname|Connection refused|Connection timed out|No route to host|Network is unreachable|Connection closed by|Connection reset/,
    explain: (r, line) => `cannot reach the SSH server ${r.ssh?.destination} (${line.replace(/^ssh: /, '').trim()}); check SSH_HOST and SSH_PORT and that the server is running.`,
  },
  {
    pattern: /[Cc]onnection lost|ssh command exited|subsystem request failed|Broken pipe/,
    explain: (r, line) =>
      `the connection to the SSH server ${r.ssh?.destination} was lost during the run (${line.replace(/^(Fatal|error|ssh): /, '').trim()}); check that the server is running and has free disk space.`,
  },
  {
    pattern: /Load key .*: (bad permissions|invalid format|error in libcrypto)|no such identity/,
    explain: (r, line) => `ssh cannot use the key in SSH_PRIVKEY_FILE (${r.ssh?.privkeyFile}): ${line.trim()}.`,
  },
]

/** Whether ssh's own stderr says why the connection failed. */
export function explainsSshFailure(stderr: string[]): boolean {
  return stderr.some((line) => SSH_FAILURES.some((failure) => failure.pattern.test(line)))
}

/** The last line restic printed that says what went wrong, for failures with no better explanation. */
function lastReason(stderr: string[]): string {
  const fatal = [...stderr].reverse().find((line) => /^Fatal: /.test(line))
  const reason = fatal ?? [...stderr].reverse().find((line) => line.trim() !== '')
  return reason ? reason.replace(/^Fatal: /, '').trim() : 'restic printed no reason'
}

/**
 * Turns a failed restic command into one sentence a person can act on, with restic's exit code.
 * restic's own codes (3, 10, 11, 12, 130) say more than any ssh line printed on the way, so they win.
 */
export function resticFailure(
  command: string,
  exitCode: number | undefined,
  stderr: string[],
  repository: Repository,
): RunError {
  switch (exitCode) {
    case EXIT.incomplete:
      return new RunError(
        `restic ${command} saved an incomplete snapshot: some files under the backup path could not be read (see the errors above); fix their permissions or exclude them.`,
        EXIT.incomplete,
      )
    case EXIT.noRepository:
      return new RunError(`restic ${command} failed: there is no repository at ${repository.describe}; run a backup (which creates it) or check ${repository.env ? 'its url in REPOSITORIES_FILE' : 'REPO_PATH'}.`, EXIT.noRepository)
    case EXIT.locked:
      return new RunError(
        `restic ${command} failed: the repository ${repository.describe} is locked by another restic process; ` +
          (repository.env
            ? 'try again later; restic calls a lock stale once it is 30 minutes old, and the next run removes it.'
            : `try again later; "runrestic unlock" removes locks of dead processes on this host and locks older than 30 minutes, ` +
              `and "runrestic unlock --remove-all" removes every lock once you are sure no other restic is running.`),
        EXIT.locked,
      )
    case EXIT.wrongPassword:
      return new RunError(
        `restic ${command} failed: the password in ${repository.env ? 'the password-file' : 'RESTIC_REPO_PASSWORD_FILE'} (${repository.passwordFile}) is wrong for the repository ${repository.describe}.`,
        EXIT.wrongPassword,
      )
    case EXIT.interrupted:
      return new RunError(`restic ${command} was interrupted before it finished.`, EXIT.interrupted)
    default:
      if (repository.ssh) {
        for (const failure of SSH_FAILURES) {
          const line = stderr.find((l) => failure.pattern.test(l))
          if (line !== undefined) return new RunError(`restic ${command} failed: ${failure.explain(repository, line)}`, EXIT.failure)
        }
      }
      return new RunError(`restic ${command} failed with exit code ${exitCode ?? 'none'}: ${lastReason(stderr)}.`, EXIT.failure)
  }
}
