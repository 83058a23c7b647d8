// Saved stack definitions in a real restic repository on this machine's disk: read back whole, the
// newest or the newest at a time, never taken for a backup's "latest".
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { savedStack, saveDefinitions } from '../../lib/recover/definitions.js'
import { runRestic, type Restic } from '../../lib/restic/command.js'
import { urlRepository } from '../../lib/restic/repository.js'
import { lastAccepted, resolveSnapshot, snapshotsOfHost } from '../../lib/restic/snapshots.js'
import type { ServiceDefinition } from '../../lib/swarm/definition.js'
import { captureLogger } from '../fixtures/log.js'

const definition = (name: string, image: string): ServiceDefinition => ({
  version: 1,
  name,
  stack: 'shop',
  spec: { Name: name, TaskTemplate: { ContainerSpec: { Image: image } } },
  withheld: [],
  networks: {},
  configs: {},
})

t.test('the newest definitions of a stack, or those of a time, and never "latest" of its host', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-definitions-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const { log } = captureLogger()
  const restic: Restic = { binary: 'restic', repository: urlRepository(join(dir, 'repository'), join(dir, 'password')) }
  await writeFile(join(dir, 'password'), 'test password')
  await runRestic(restic, ['init'], { log })
  await writeFile(join(dir, 'file'), 'data')
  t.equal(await savedStack(restic, 'shop', undefined, log), undefined, 'none saved yet')

  await runRestic(restic, ['backup', '--host', 'shop_db', join(dir, 'file')], { log })
  await saveDefinitions(restic, 'shop_db', [definition('shop_db', 'postgres:15'), definition('shop_front', 'nginx:1')], log)
  const between = new Date()
  await new Promise((done) => setTimeout(done, 1100))
  await saveDefinitions(restic, 'shop_db', [definition('shop_db', 'postgres:16'), definition('shop_front', 'nginx:1')], log)

  const newest = await savedStack(restic, 'shop', undefined, log)
  t.same(newest?.definitions.map((saved) => [saved.name, (saved.spec as any).TaskTemplate.ContainerSpec.Image]), [['shop_db', 'postgres:16'], ['shop_front', 'nginx:1']], 'the newest, whole')
  t.same(newest?.snapshot.tags?.sort(), ['rds-definition', 'rds-stack=shop'])
  const then = await savedStack(restic, 'shop', between, log)
  t.equal((then?.definitions[0]?.spec as any).TaskTemplate.ContainerSpec.Image, 'postgres:15', 'at a time, those saved at or before it')
  t.equal(await savedStack(restic, 'other', undefined, log), undefined, 'another stack has none')

  const all = await snapshotsOfHost(restic, 'shop_db', log)
  t.equal(all.length, 3)
  t.same(lastAccepted(all)?.paths, [join(dir, 'file')], 'the newest accepted snapshot of the host is its backup')
  t.same((await resolveSnapshot(restic, { snapshot: 'latest', host: 'shop_db' }, log)).paths, [join(dir, 'file')], '"latest" too')
})
