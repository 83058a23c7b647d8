import { sim } from '../test/fixtures/swarm.js'
import { containerOf, STACK } from '../test/fixtures/swarm-stack.js'

// The controller's memory on the simulated Swarm, as bench:swarm and bench:scale read it.

/** The controller's resident memory, from its container's cgroup (docker stats), in MiB. */
export async function controllerMemoryMiB(): Promise<number> {
  const agent = await containerOf('rds-sim1', `${STACK}_agent`)
  const usage = (await sim('rds-sim1', ['stats', '--no-stream', '--format', '{{.MemUsage}}', agent])).split('/')[0]!.trim()
  const [, amount, unit] = /^([\d.]+)\s*([KMG]i?B)$/.exec(usage) ?? []
  const factor: Record<string, number> = { KiB: 1 / 1024, MiB: 1, GiB: 1024, kB: 1 / 1024, MB: 1, GB: 1024 }
  return Number(amount) * (factor[unit ?? 'MiB'] ?? 1)
}

/**
 * The resident memory of the controller's own node process, in MiB: the cgroup's figure above also
 * counts the restic and ssh it runs (retention, the lock check before each job) and page cache.
 */
export async function controllerProcessMiB(): Promise<number> {
  const agent = await containerOf('rds-sim1', `${STACK}_agent`)
  const script = 'for d in /proc/[0-9]*; do if grep -q "rds.js.agent" $d/cmdline 2>/dev/null || tr "\\0" " " < $d/cmdline 2>/dev/null | grep -q "rds agent"; then grep VmRSS $d/status; fi; done'
  const rss = await sim('rds-sim1', ['exec', agent, 'sh', '-c', script])
  const kib = Math.max(...[...rss.matchAll(/VmRSS:\s+(\d+) kB/g)].map((match) => Number(match[1])))
  return kib / 1024
}
