/**
 * `npm start` of the chat example: two room workers on the in-memory transport (no broker), 20 users
 * in 5 rooms, worker-2 crashing half-way through the conversation. Prints what each room shows and
 * who is present, and exits non-zero if any room is wrong.
 */
import { runMemoryDemo } from './demo.js'

const { report, shown, present, storedBy } = await runMemoryDemo(undefined, (line) => console.log(line))
for (const [room, count] of Object.entries(report.rooms)) {
  const last = shown
    .filter((d) => d.room === room)
    .sort((a, b) => a.index - b.index)
    .at(-1)
  console.log(`${room}: ${count} messages in order, last "${last?.text}"`)
}
console.log(
  `stored by: ${Object.entries(storedBy)
    .map(([w, n]) => `${w} ${n}`)
    .join(', ')}`,
)
console.log(`present: ${present.length} users (${present[0]} … ${present.at(-1)}); worker-2's users are gone`)
console.log(`duplicates shown after the crash: ${report.duplicates}`)
for (const problem of report.problems) console.error(`PROBLEM ${problem}`)
process.exitCode = report.problems.length === 0 && present.length === 10 ? 0 : 1
