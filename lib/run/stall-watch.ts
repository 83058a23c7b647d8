/**
 * Watches a long command's progress reports and aborts `signal` when they stop changing for
 * `timeoutMs`: restic itself can wait forever on a server whose disk is full or a connection that
 * hangs. The first report may take `firstReportGraceMs` longer (restic waiting for a lock).
 */
export interface StallWatch {
  signal: AbortSignal
  /** Reports progress: `state` changes while work is being done; `where` says what it was doing. */
  progress(state: string, where: string): void
  /** Set once the watch has fired: what was last reported. */
  stalledAt(): string | undefined
  stop(): void
}

export function watchForStall(timeoutMs: number, firstReportGraceMs = 0): StallWatch {
  const controller = new AbortController()
  let lastState: string | undefined
  let lastWhere = 'before its first progress report'
  let stalled: string | undefined
  const fire = () => {
    stalled = lastWhere
    controller.abort()
  }
  let timer = setTimeout(fire, timeoutMs + firstReportGraceMs)
  return {
    signal: controller.signal,
    progress(state, where) {
      lastWhere = where
      if (state === lastState || stalled !== undefined) return
      lastState = state
      clearTimeout(timer)
      timer = setTimeout(fire, timeoutMs)
    },
    stalledAt: () => stalled,
    stop: () => clearTimeout(timer),
  }
}
