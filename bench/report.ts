import type { runBenchmark } from './run.js'

const MiB = 1024 * 1024

export type Result = Awaited<ReturnType<typeof runBenchmark>>

/** The figures as the table npm run bench prints. */
export function formatTable(result: Result): string {
  const s = (seconds: number) => seconds.toFixed(2).padStart(8)
  const mb = (bytes: number) => (bytes / MiB).toFixed(1).padStart(10)
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`.padStart(8)
  const { overhead: o, unchanged: u, rdsInitial: ri, rdsIncremental: rc, tarInitial: ti, tarIncremental: tc } = result
  return [
    `restic-docker-swarm benchmark: ${mb(result.data.bytes).trim()} MiB in ${result.data.files} files, median of ${result.repetitions}`,
    `machine: ${result.machine.cores} cores (${result.machine.cpu}), ${result.machine.memoryGiB} GiB, node ${result.machine.node}, restic ${result.machine.restic}`,
    '',
    '1. Agent overhead: one initial backup into an existing repository, same arguments, same server,',
    '   then the same backup again with nothing changed',
    `                              wall s  peak RSS MiB`,
    `  restic backup            ${s(o.restic.seconds)}    ${mb(o.restic.peakRss)}`,
    `  rds backup               ${s(o.rds.seconds)}    ${mb(o.rds.peakRss)}`,
    `  rds / restic             ${x(o.rds.seconds, o.restic.seconds)}    ${x(o.rds.peakRss, o.restic.peakRss).padStart(10)}`,
    `  rds - restic             ${s(o.rds.seconds - o.restic.seconds)}`,
    `  restic, nothing changed  ${s(u.restic.seconds)}    ${mb(u.restic.peakRss)}`,
    `  rds, nothing changed     ${s(u.rds.seconds)}    ${mb(u.rds.peakRss)}`,
    `  rds - restic             ${s(u.rds.seconds - u.restic.seconds)}`,
    '',
    `2. Initial, then incremental after changing ${result.data.changedFiles} files (1 %) and adding one large file`,
    `                              wall s  written MiB  local disk MiB  peak RSS MiB`,
    `  rds backup, initial      ${s(ri.seconds)}  ${mb(ri.written)}   ${mb(ri.localDisk)}    ${mb(ri.peakRss)}`,
    `  rds backup, incremental  ${s(rc.seconds)}  ${mb(rc.written)}   ${mb(rc.localDisk)}    ${mb(rc.peakRss)}`,
    `  tar czf | ssh, initial   ${s(ti.seconds)}  ${mb(ti.written)}   ${mb(ti.localDisk)}    ${mb(ti.peakRss)}`,
    `  tar czf | ssh, again     ${s(tc.seconds)}  ${mb(tc.written)}   ${mb(tc.localDisk)}    ${mb(tc.peakRss)}`,
    `  incremental, rds / tar   ${x(rc.seconds, tc.seconds)}  ${x(rc.written, tc.written).padStart(10)}`,
    `  initial, rds / tar       ${x(ri.seconds, ti.seconds)}  ${x(ri.written, ti.written).padStart(10)}`,
    '',
    `3. The floor: reading the data once (tar cf - DATA | discard) takes ${result.floorSeconds.toFixed(2)} s`,
    `  rds initial ${x(ri.seconds, result.floorSeconds).trim()} the floor, rds incremental ${x(rc.seconds, result.floorSeconds).trim()}, tar czf | ssh ${x(ti.seconds, result.floorSeconds).trim()}`,
    '',
    `4. The agent at rest: resident memory ${mb(result.idle.rssMedian).trim()} MiB (max ${mb(result.idle.rssMax).trim()}), CPU ${result.idle.cpuPercent.toFixed(3)} %`,
    '',
    `5. A verbose backup of ${result.manyFiles.files} files (restic prints a line per file, rds logs it): ${s(result.manyFiles.seconds).trim()} s,`,
    `  ${mb(result.manyFiles.logBytes).trim()} MiB of log; peak RSS of rds ${mb(result.manyFiles.peakOwnRss ?? 0).trim()} MiB, of rds with restic and ssh ${mb(result.manyFiles.peakRss).trim()} MiB`,
    '',
  ].join('\n')
}
