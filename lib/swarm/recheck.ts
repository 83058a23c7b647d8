const FIRST_MS = 2000
const MAX_MS = 60_000

/**
 * The controller's look at the Swarm again, in a while, while something waits that no event will
 * announce (a task that starts sends none; a discovery that failed): after 2 s, doubling to a minute.
 */
export class Recheck {
  private timer?: NodeJS.Timeout
  private delayMs = FIRST_MS

  constructor(
    private readonly again: (why: string) => void,
    /** True once looking again is of no use (the controller stopped, or runs no schedules). */
    private readonly off: () => boolean,
  ) {}

  /** Looks again in a while, unless a look is due already. */
  arm(why: string): void {
    if (this.timer || this.off()) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.again(why)
    }, this.delayMs)
    this.delayMs = Math.min(this.delayMs * 2, MAX_MS)
  }

  /** Nothing waits: no look is due, and the next wait starts again at 2 s. */
  reset(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.delayMs = FIRST_MS
  }
}
