import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { execa } from 'execa'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { partialPath, restoreToDirectory, type RestoreOptions } from './directory.js'
import type { Restic } from '../restic/command.js'
import { checkVolumeWritable, readVolume, REPRODUCIBLE_PAX, writeVolume, type VolumeHelper } from '../docker/volume-helper.js'

export async function withTempDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'rds-volume-'))
  try {
    return await use(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** A local directory as a tar stream: POSIX (pax) format, which keeps times to the nanosecond, with owners, modes, links and holes. */
export function tarOf(dir: string, signal?: AbortSignal) {
  return execa('tar', ['-c', '--format=posix', REPRODUCIBLE_PAX, '--numeric-owner', '--sparse', '-C', dir, '-f', '-', '.'], { buffer: false, stdin: 'ignore', cancelSignal: signal })
}

/**
 * Restores a snapshot into a Docker volume of this engine: restic restores it into a private
 * temporary directory (so it needs that much local disk), and its folder (SNAPSHOT:FOLDER), else its
 * one backed-up path, becomes the volume's root. MODE=swarm restores on the volume's node instead,
 * straight into it (lib/recover/volume-job.ts).
 */
export async function restoreToVolume(restic: Restic, helper: VolumeHelper, volume: string, options: Omit<RestoreOptions, 'target'>, log: Logger): Promise<void> {
  await checkVolumeWritable(helper, volume, options.force)
  await withTempDir(async (dir) => {
    const target = join(dir, 'restored')
    const snapshot = await restoreToDirectory(restic, { ...options, target, force: false, delete: false }, log)
    if (!options.folder && snapshot.paths.length !== 1) {
      throw new ConfigError(`snapshot ${snapshot.short_id} holds ${snapshot.paths.length} paths (${snapshot.paths.join(', ')}); name the one that becomes the volume's root as ${snapshot.short_id}:PATH, or restore it with --target.`)
    }
    log.info(`restore: writing it into volume ${volume}`)
    const tar = tarOf(options.folder ? target : join(target, snapshot.paths[0]!), helper.signal)
    // execa's readable() hands over tar's output whole; its raw stdout may already be flowing.
    try {
      await writeVolume(helper, volume, tar.readable(), options.force)
    } catch (error) {
      tar.kill()
      await tar.catch(() => undefined)
      throw error
    }
    await tar
    log.info(`restore: volume ${volume} done`)
  })
}

/** Checks that a file is a whole tar archive, before anything is created from it. */
async function checkTar(file: string, name: string): Promise<void> {
  const listing = await execa('tar', ['-t', '-f', file], { reject: false, stdout: 'ignore' })
  if (listing.exitCode !== 0) {
    const reason = listing.stderr.trim().split('\n').filter((line) => !/Exiting with failure/.test(line)).pop() ?? `tar exit code ${listing.exitCode}`
    throw new ConfigError(`${name} is not a complete tar archive (${reason.replace(/^tar: /, '')}); nothing was imported.`)
  }
}

/**
 * Creates a volume from a tar archive (a file, or standard input, which is first kept in a private
 * temporary file). The whole archive is checked before the volume is created, so a truncated or
 * foreign file leaves nothing behind.
 */
export async function importVolume(helper: VolumeHelper, source: string, stdin: Readable, volume: string, force: boolean, log: Logger): Promise<void> {
  await checkVolumeWritable(helper, volume, force, true)
  await withTempDir(async (dir) => {
    let file = resolve(source)
    if (source === '-') {
      file = join(dir, 'stdin.tar')
      await pipeline(stdin, createWriteStream(file, { mode: 0o600 }), { signal: helper.signal })
    }
    await checkTar(file, source === '-' ? 'standard input' : source)
    log.info(`import: ${source === '-' ? 'standard input' : file} into volume ${volume}`)
    await writeVolume(helper, volume, createReadStream(file), force)
    log.info('import: done')
  })
}

/** Writes a live volume as a tar archive, to a file (whole or not at all, readable by its owner only) or to a stream. */
export async function exportVolume(helper: VolumeHelper, volume: string, output: string | undefined, stdout: Writable, log: Logger): Promise<void> {
  if (!output) return readVolume(helper, volume, stdout)
  const file = resolve(output)
  const partial = partialPath(file)
  try {
    const out = createWriteStream(partial, { mode: 0o600, flags: 'wx' })
    await readVolume(helper, volume, out)
    await new Promise<void>((done, fail) => out.end((error?: Error | null) => (error ? fail(error) : done())))
    await rename(partial, file)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  log.info(`export: volume ${volume} to ${file}`)
}
