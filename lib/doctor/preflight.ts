import { constants } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import type Docker from 'dockerode'
import { readConfig, type Config, type Env } from '../config/environment.js'
import { checkKnownHosts, checkPrivateKey, readSecretFile } from '../config/secret-files.js'
import { checkBackupPath, openWorkspace } from '../restic/workspace.js'
import { EXIT } from '../errors.js'
import { notificationsFrom } from '../notify/listener.js'
import type { Logger } from '../observe/log.js'
import { checkResticVersion, runRestic, type Restic } from '../restic/command.js'
import { repositoryOfKey } from '../restic/repository.js'
import { readRepositories } from '../config/repositories.js'
import { labelDefaults } from '../swarm/label-defaults.js'
import type { HookEngine } from '../docker/engine.js'
import { discoverJobs } from '../swarm/discover.js'

/** One thing a run needs, and whether it is there: a detail when it is, one sentence saying what to do when not. */
export interface Finding {
  ok: boolean
  what: string
  detail: string
}

interface Check {
  what: string
  /** Resolves to a detail; throws the problem. */
  run: () => Promise<string>
}

/** What the preflight reaches Docker through (loaded only if a check needs it). */
export interface PreflightDocker {
  docker: () => Promise<Docker>
  engine: () => Promise<HookEngine>
}

// The preflight's own restic and notification set-up must not fill the log it reports in.
const quiet: Logger = { verbose: false, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

/** Opens the repository without changing it: wrong password, host key or key, an unreachable server are one sentence each. */
async function probeRepository(restic: Restic): Promise<string> {
  try {
    await runRestic({ ...restic, retryLock: undefined }, ['cat', 'config', '--no-lock'], { log: quiet, expectedExitCodes: [EXIT.noRepository] })
    return 'reachable, and the password opens it'
  } catch (error) {
    if ((error as { exitCode?: number }).exitCode === EXIT.noRepository) return 'reachable; there is no repository yet: the first backup creates it'
    throw error
  }
}

function secretChecks(config: Config): Check[] {
  const checks: Check[] = []
  const { file, name } = config.repositories
  if (config.resticRepository === undefined && name === undefined) {
    checks.push({ what: 'SSH_PRIVKEY_FILE', run: async () => (await checkPrivateKey(config.sshPrivkeyFile), `a private key (${config.sshPrivkeyFile})`) })
    checks.push({ what: 'SSH_KNOWN_HOSTS_FILE', run: async () => (await checkKnownHosts(config.sshKnownHostsFile), `host keys (${config.sshKnownHostsFile})`) })
  }
  if (name === undefined) checks.push({ what: 'RESTIC_REPO_PASSWORD_FILE', run: async () => (await readSecretFile('RESTIC_REPO_PASSWORD_FILE', config.passwordFile, 'repository password'), `readable (${config.passwordFile})`) })
  if (file !== undefined) checks.push({ what: 'REPOSITORIES_FILE', run: async () => `${[...(await readRepositories(file)).keys()].join(', ')} (${file}), with their password files` })
  if (config.copyTo) {
    const file = config.copyTo.passwordFile
    checks.push({ what: 'COPY_TO_PASSWORD_FILE', run: async () => (await readSecretFile('COPY_TO_PASSWORD_FILE', file, "second repository's password"), `readable (${file})`) })
  }
  if (config.notify.urls !== undefined || config.notify.urlsFile !== undefined) {
    checks.push({ what: 'NOTIFY_URLS', run: async () => ((await notificationsFrom(config.notify, quiet)) ? `notifications on ${config.notify.on ?? 'failure,recovery'}` : 'no destination') })
  }
  if (config.statusFile) {
    const dir = dirname(config.statusFile)
    checks.push({
      what: 'STATUS_FILE',
      run: async () => {
        try {
          await mkdir(dir, { recursive: true })
          await access(dir, constants.W_OK)
        } catch (error) {
          throw new Error(`STATUS_FILE is ${config.statusFile}, in a directory this user (uid ${process.getuid?.()}) cannot make or write (${(error as NodeJS.ErrnoException).code}); mount a writable volume at ${dir} or set STATUS_FILE.`)
        }
        return `writable (${config.statusFile})`
      },
    })
  }
  return checks
}

/** The checks of one volume's agent (MODE=service) on its own node: its backup path and its hooks' containers. */
function serviceChecks(config: Config, docker: PreflightDocker): Check[] {
  const checks: Check[] = config.backupFiles ? [{ what: 'BACKUP_PATH', run: async () => (await checkBackupPath(config.backupPath, config.guardFolders), `a readable directory (${config.backupPath})`) }] : []
  const uses = [config.preHook || config.postHook ? 'hooks' : undefined, config.dump ? 'dump' : undefined, config.stopDuringBackup === 'pause' ? 'pause' : undefined].filter(Boolean).join(', ')
  if (config.serviceName && uses) {
    const service = config.serviceName
    checks.push({
      what: 'SERVICE_NAME',
      run: async () => {
        const { node, containers } = await (await docker.engine()).serviceContainers(service)
        if (containers.length === 0) throw new Error(`SERVICE_NAME is ${service}, which has no running container on this node (${node}) for its ${uses}; run the agent on the node of the service's task, or check the name (with the stack prefix).`)
        return `${containers.length} running container(s) on ${node}, for the ${uses}`
      },
    })
  }
  return checks
}

/** The checks of the controller (MODE=swarm): a manager, every labelled service, and every repository they name. */
async function swarmChecks(config: Config, docker: PreflightDocker, restic: (repoPath: string) => Promise<string>): Promise<Check[]> {
  const client = await docker.docker()
  const info = (await client.info()) as { Swarm?: { ControlAvailable?: boolean }; Name?: string }
  if (!info.Swarm?.ControlAvailable) return [{ what: 'Docker', run: async () => Promise.reject(new Error('MODE=swarm runs on a manager node, the only kind that sees every service; place the agent with the constraint node.role == manager.')) }]
  const { readSwarm } = await import('../swarm/cluster.js')
  const swarm = await readSwarm(client)
  const defaults = await labelDefaults(config)
  const jobs = discoverJobs(swarm.services, defaults, swarm.nodes)
  const checks: Check[] = [{ what: 'Docker', run: async () => `a Swarm manager (${info.Name}), ${jobs.length} labelled service(s)` }]
  for (const job of jobs) {
    checks.push({
      what: `service ${job.name}`,
      run: async () => {
        if (job.error) throw new Error(job.error)
        if (job.unavailable) throw new Error(job.unavailable)
        if (!job.node) throw new Error(`service ${job.service} has no running task, so there is nothing to back up; start it, or label it rds.backup=false.`)
        const hooks = job.backup!.hooks.pre || job.backup!.hooks.post ? ', with hooks' : ''
        return `${job.backup!.volumes.map((volume) => volume.name).join(', ')} on ${job.node.nodeName}, "${job.backup!.schedule}"${hooks}, to ${job.backup!.repoPath}`
      },
    })
  }
  // Every repository of REPOSITORIES_FILE, chosen by a label or not yet, and every path on the server labels choose.
  for (const repoPath of new Set([...(defaults.repositories ?? []), ...jobs.flatMap((job) => (job.backup ? [job.backup.repoPath] : []))])) {
    checks.push({ what: `repository ${repoPath}`, run: () => restic(repoPath) })
  }
  return checks
}

/**
 * Everything a run needs, checked without taking a backup: the configuration, restic, the secrets,
 * the server (with the pinned host key and the key), the repository password, the backup path and
 * the hooks' containers, or with MODE=swarm every labelled service and repository. Every problem
 * is one sentence; the checks go on past a problem, so that all of them are named at once.
 */
export async function preflight(env: Env, docker: PreflightDocker): Promise<Finding[]> {
  let config: Config
  try {
    config = readConfig(env)
  } catch (error) {
    return [{ ok: false, what: 'configuration', detail: (error as Error).message }]
  }
  const findings: Finding[] = []
  const run = async (checks: Check[]) => {
    for (const { what, run } of checks) findings.push(await run().then((detail) => ({ ok: true, what, detail }), (error: Error) => ({ ok: false, what, detail: error.message })))
  }
  await run([{ what: 'configuration', run: async () => (config.mode === 'swarm' ? 'MODE=swarm' : `MODE=service, backing up ${config.backupPath}`) }])
  await run([{ what: 'restic', run: async () => `restic ${await checkResticVersion(config.resticBinary)}` }])
  await run(secretChecks(config))
  if (config.mode === 'service') await run(serviceChecks(config, docker))
  if (findings.some((finding) => !finding.ok)) {
    findings.push({ ok: false, what: 'repository', detail: 'not tried: mend the problems above first' })
    return findings
  }
  if (config.mode === 'swarm' && config.resticRepository !== undefined) {
    findings.push({ ok: false, what: 'RESTIC_REPOSITORY', detail: 'MODE=swarm backs up to the SFTP server (SSH_HOST, REPO_PATH); unset RESTIC_REPOSITORY, and copy to other repositories with rds copy.' })
    return findings
  }
  const workspace = await openWorkspace(env, quiet)
  try {
    const restic: Restic = { binary: config.resticBinary, repository: workspace.repository }
    const named = config.repositories.file === undefined ? undefined : await readRepositories(config.repositories.file)
    const sftpRestic = (repoPath: string) => probeRepository({ ...restic, repository: repositoryOfKey(repoPath, config, workspace.repository.ssh!.transport, named) })
    const checks = config.mode === 'swarm' ? await swarmChecks(config, docker, sftpRestic).catch((error: Error) => [{ what: 'Docker', run: () => Promise.reject(error) }]) : [{ what: 'repository', run: () => probeRepository(restic) }]
    await run(checks)
  } finally {
    await workspace.close()
  }
  return findings
}
