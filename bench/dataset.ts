import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** A small, fast, seeded PRNG (mulberry32): the same seed makes the same data set. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Incompressible bytes from a seeded AES-CTR keystream: fast, and the same for the same label. */
function randomBytesFor(label: string, size: number): Buffer {
  const key = createHash('sha256').update(label).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  return cipher.update(Buffer.alloc(size))
}

const WORDS = 'select insert update backup restore volume swarm service replica snapshot repository chunk index tree blob pack lock prune forget retention schedule hook dump table row column value error warning info debug'.split(' ')

/** Text that compresses about as well as logs or SQL dumps do. */
function textFor(random: () => number, size: number): Buffer {
  const lines: string[] = []
  let length = 0
  for (let n = 0; length < size; n++) {
    const words = Array.from({ length: 4 + Math.floor(random() * 10) }, () => WORDS[Math.floor(random() * WORDS.length)])
    const line = `${n} ${new Date(1_700_000_000_000 + n * 1000).toISOString()} ${words.join(' ')} ${Math.floor(random() * 1e9)}\n`
    lines.push(line)
    length += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, size)
}

export interface DatasetFile {
  path: string
  size: number
  kind: 'small' | 'large' | 'text'
}

/**
 * Writes the data set: about 30 % of the bytes in many small random files (1 to 64 KiB, in 64
 * folders), 40 % in large random files (25 MiB, or smaller for a small set), and 30 % in
 * compressible text files (1 to 8 MiB).
 */
export async function generateDataset(root: string, totalBytes: number, seed: number): Promise<DatasetFile[]> {
  const random = prng(seed)
  const files: DatasetFile[] = []
  const budget = { small: totalBytes * 0.3, large: totalBytes * 0.4, text: totalBytes * 0.3 }
  const largeSize = Math.max(64 * 1024, Math.min(25 * 1024 * 1024, Math.floor(budget.large / 4)))
  for (let used = 0, i = 0; used < budget.small; i++) {
    const size = 1024 + Math.floor(random() * 63 * 1024)
    files.push({ path: join(`dir-${String(i % 64).padStart(2, '0')}`, `small-${i}.bin`), size, kind: 'small' })
    used += size
  }
  for (let used = 0, i = 0; used < budget.large; i++) {
    files.push({ path: join('large', `large-${i}.bin`), size: largeSize, kind: 'large' })
    used += largeSize
  }
  for (let used = 0, i = 0; used < budget.text; i++) {
    const size = Math.max(4096, Math.min(Math.floor(budget.text - used), (1 + Math.floor(random() * 8)) * 1024 * 1024))
    files.push({ path: join('text', `log-${i}.txt`), size, kind: 'text' })
    used += size
  }
  for (const file of files) {
    const path = join(root, file.path)
    await mkdir(join(path, '..'), { recursive: true })
    await writeFile(path, file.kind === 'text' ? textFor(random, file.size) : randomBytesFor(`${seed}:${file.path}`, file.size))
  }
  return files
}

/**
 * The change between two backups: about 1 % of the files get 4 KiB overwritten at a random place,
 * and one new large random file is added. Returns what was changed and added.
 */
export async function changeDataset(root: string, files: DatasetFile[], seed: number): Promise<{ changed: number; added: number }> {
  const random = prng(seed + 1)
  const count = Math.max(1, Math.round(files.length / 100))
  const chosen = new Set<number>()
  while (chosen.size < count) chosen.add(Math.floor(random() * files.length))
  for (const index of chosen) {
    const file = files[index]!
    const handle = await open(join(root, file.path), 'r+')
    const offset = Math.floor(random() * Math.max(1, file.size - 4096))
    await handle.write(randomBytesFor(`${seed}:change:${file.path}`, Math.min(4096, file.size)), 0, Math.min(4096, file.size), offset)
    await handle.close()
  }
  const largeSize = files.find((file) => file.kind === 'large')?.size ?? 1024 * 1024
  await mkdir(join(root, 'large'), { recursive: true })
  await writeFile(join(root, 'large', 'added-after-first-backup.bin'), randomBytesFor(`${seed}:added`, largeSize))
  return { changed: count, added: largeSize }
}

/** `count` small files (a few dozen bytes each, all different), 500 to a folder: a tree that is all metadata. */
export async function generateManyFiles(root: string, count: number): Promise<void> {
  const perFolder = 500
  for (let start = 0; start < count; start += perFolder) {
    const folder = join(root, `f${start / perFolder}`)
    await mkdir(folder, { recursive: true })
    const writes: Promise<void>[] = []
    for (let i = start; i < Math.min(count, start + perFolder); i++) writes.push(writeFile(join(folder, `${i}.txt`), `file ${i} of ${count}\n`))
    await Promise.all(writes)
  }
}
