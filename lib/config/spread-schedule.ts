import { createHash } from 'node:crypto'
import { ConfigError } from '../errors.js'

// Jenkins's "H": a field written H takes a value of its own for each job, drawn from a hash of the
// job's name, so that "H 3 * * *" on fifty services starts them at fifty minutes of 03:00-03:59,
// not at one second, and each service keeps its minute from one day (and one controller) to the next.

/** Each field's range, for five fields (minute first) and for six (second first). Days of the month stop at 28, as Jenkins's do, so that every month has them. */
const FIVE = [[0, 59], [0, 23], [1, 28], [1, 12], [0, 6]] as const
const SIX = [[0, 59], ...FIVE] as const
const HASHED = /^H(?:\((\d+)-(\d+)\))?(?:\/(\d+))?$/

/** Whether an expression has an H field to spread. */
export const isSpread = (expression: string) => expression.trim().split(/\s+/).some((field) => field.startsWith('H'))

/**
 * The expression with each H field given the job's own value: H (any value of the field), H(a-b)
 * (one of a..b), H/n (every n, from the job's own offset), H(a-b)/n. A ConfigError naming `name`
 * (the variable or label) for an H field it cannot read.
 */
export function spreadSchedule(expression: string, job: string, name: string): string {
  if (!isSpread(expression)) return expression
  const fields = expression.trim().split(/\s+/)
  const ranges = fields.length === 6 ? SIX : fields.length === 5 ? FIVE : undefined
  if (!ranges) throw new ConfigError(`${name} ${JSON.stringify(expression)} has H but not five or six fields; write e.g. "H 3 * * *" (a minute of 03:00-03:59 of the job's own).`)
  const hash = createHash('sha256').update(job).digest()
  return fields
    .map((field, index) => {
      if (!field.startsWith('H')) return field
      const match = HASHED.exec(field)
      const [low, high] = ranges[index]!
      const from = match?.[1] === undefined ? low : Number(match[1])
      const to = match?.[2] === undefined ? high : Number(match[2])
      const step = match?.[3] === undefined ? undefined : Number(match[3])
      if (!match || from > to || from < low || to > high || step === 0) {
        throw new ConfigError(`${name} ${JSON.stringify(expression)} has the field "${field}"; write H, H(${low}-${high}), H/STEP or H(FROM-TO)/STEP with FROM-TO within ${low}-${high}.`)
      }
      // Four bytes of the hash a field: two H fields of one job are drawn independently.
      const draw = hash.readUInt32BE(index * 4)
      if (step === undefined) return String(from + (draw % (to - from + 1)))
      const values: number[] = []
      for (let value = from + (draw % Math.min(step, to - from + 1)); value <= to; value += step) values.push(value)
      return values.join(',')
    })
    .join(' ')
}
