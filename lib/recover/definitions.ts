import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { DEFINITION_TAG, resticJson, type SnapshotInfo } from '../restic/snapshots.js'
import type { ServiceDefinition } from '../swarm/definition.js'

/** The one file of a definitions snapshot: one service's definition per line. */
export const DEFINITION_FILE = 'rds-definition.json'
/** The tag naming the stack the definitions are of, for finding a whole stack again. */
const stackTag = (stack: string) => `rds-stack=${stack}`

/**
 * Saves what a run read of its service and its stack as a snapshot of its job's host, read by
 * restic from stdin: one small document, deduplicated, kept by the job's retention like its
 * backups (a group of its own), never "latest" (isAccepted).
 */
export async function saveDefinitions(restic: Restic, host: string, definitions: ServiceDefinition[], log: Logger): Promise<void> {
  const stack = definitions[0]?.stack
  const tags = [DEFINITION_TAG, ...(stack ? [stackTag(stack)] : [])]
  const args = ['backup', '--stdin', '--stdin-filename', DEFINITION_FILE, '--host', host, ...tags.flatMap((tag) => ['--tag', tag]), '--json', '--quiet']
  await runRestic(restic, args, { log, input: definitions.map((definition) => `${JSON.stringify(definition)}\n`).join(''), onStdoutLine: () => undefined })
}

/** A stack's definitions as one run saved them, with the snapshot they came from. */
export interface SavedStack {
  snapshot: SnapshotInfo
  definitions: ServiceDefinition[]
}

/**
 * A stack as the newest snapshot of its definitions (at or before `at`) in this repository holds
 * it, whichever of its services' runs saved it; undefined when there is none.
 */
export async function savedStack(restic: Restic, stack: string, at: Date | undefined, log: Logger): Promise<SavedStack | undefined> {
  const listed = await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', '--no-lock', '--tag', `${DEFINITION_TAG},${stackTag(stack)}`], log)
  const snapshot = listed.filter((found) => !at || Date.parse(found.time) <= at.getTime()).sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).at(-1)
  if (!snapshot) return undefined
  // --no-lock: a retention's lock (every run's) would have it wait, and say so on stdout.
  const definitions = await resticJson<ServiceDefinition>(restic, ['dump', '--no-lock', snapshot.id, `/${DEFINITION_FILE}`], log)
  if (definitions.length === 0 || definitions.some((definition) => definition?.version !== 1)) {
    throw new RunError(`snapshot ${snapshot.short_id} of ${snapshot.hostname} holds no service definitions this rds can read; list them with rds snapshots --tag ${DEFINITION_TAG}.`)
  }
  return { snapshot, definitions }
}

/** The newest saved definitions of a stack (at or before `at`) among these repositories; a RunError when there are none. */
export async function findSavedStack(resticFor: (repoPath: string) => Restic, repoPaths: string[], name: string, at: Date | undefined, log: Logger): Promise<SavedStack> {
  let newest: SavedStack | undefined
  for (const repoPath of repoPaths) {
    // A repository a label names but no backup has made yet holds nothing of the stack.
    const found = await savedStack(resticFor(repoPath), name, at, log).catch((error: RunError) => (error.exitCode === EXIT.noRepository ? undefined : Promise.reject(error)))
    if (found && (!newest || Date.parse(newest.snapshot.time) < Date.parse(found.snapshot.time))) newest = found
  }
  if (!newest) {
    const when = at ? ` saved at or before ${at.toISOString()}` : ''
    throw new RunError(`stack ${name} has no definitions${when} in the repositories ${repoPaths.join(', ')}; each backup of a labelled service of it saves them, as snapshots tagged ${DEFINITION_TAG} (rds snapshots --host SERVICE).`)
  }
  log.info(`stack: ${name} as it was at ${newest.snapshot.time} (snapshot ${newest.snapshot.short_id} of ${newest.snapshot.hostname}): ${newest.definitions.map((definition) => definition.name).join(', ')}`)
  return newest
}
