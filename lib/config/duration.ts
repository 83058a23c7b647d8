/** A duration in ms as people write it: 90 s, 30 min, 1 h 30 min. */
export function describeDuration(ms: number): string {
  const units: [number, string][] = [
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ]
  const parts = units.flatMap(([size, unit], i) => {
    const value = Math.floor((i === 0 ? ms : ms % units[i - 1]![0]) / size)
    return value > 0 ? [`${value} ${unit}`] : []
  })
  return parts.join(' ') || `${ms} ms`
}

/** A Go duration as restic's --retry-lock takes it (1h30m, 5m, 2.5s, 500ms), in milliseconds. */
export function goDurationMs(duration: string): number {
  const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }
  let total = 0
  for (const [, amount, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) total += Number(amount) * (unitMs[unit!] ?? 0)
  return total
}
