import { readdir, readFile, lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { execa, type Options } from 'execa'

const PAGE = 4096

async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[])
  const children: number[] = []
  for (const task of tasks) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')
    for (const child of text.split(' ').filter(Boolean)) children.push(Number(child))
  }
  return children
}

/** Resident memory of a process and all its descendants, in bytes. */
export async function treeRss(pid: number): Promise<number> {
  let total = 0
  const stack = [pid]
  while (stack.length > 0) {
    const current = stack.pop()!
    total += await ownRss(current)
    stack.push(...(await childrenOf(current)))
  }
  return total
}

/** CPU time (user + system) a process has used, in seconds. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

export interface Measurement {
  seconds: number
  /** Of the whole process tree. */
  peakRss: number
  /** Of the command's own process, without its children (for a single command). */
  peakOwnRss?: number
}

/** Resident memory of one process, in bytes. */
async function ownRss(pid: number): Promise<number> {
  const statm = await readFile(`/proc/${pid}/statm`, 'utf8').catch(() => '')
  return Number(statm.split(' ')[1] ?? 0) * PAGE
}

/**
 * Runs a command (an argument array, no shell), sampling the resident memory of its whole process
 * tree every 20 ms; throws if it fails.
 */
export async function measure(file: string, args: string[], options: Options = {}): Promise<Measurement> {
  const started = process.hrtime.bigint()
  const child = execa(file, args, { all: true, ...options, reject: false })
  let peakRss = 0
  let peakOwnRss = 0
  let running = true
  const sampling = (async () => {
    while (running && child.pid !== undefined) {
      peakRss = Math.max(peakRss, await treeRss(child.pid))
      peakOwnRss = Math.max(peakOwnRss, await ownRss(child.pid))
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  const result = await child
  running = false
  await sampling
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (${result.exitCode}): ${String(result.all).slice(-2000)}`)
  return { seconds, peakRss, peakOwnRss }
}

/** Bytes in a directory tree (files' sizes; a missing directory is 0). */
export async function treeSize(root: string): Promise<number> {
  let total = 0
  const walk = async (path: string) => {
    const stats = await lstat(path).catch(() => undefined)
    if (!stats) return
    if (stats.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name))
    else total += stats.size
  }
  await walk(root)
  return total
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
