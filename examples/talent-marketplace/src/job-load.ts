/**
 * load: a steady stream of `file.uploaded` jobs, for watching a live broker switch under load
 * (`node dist/load.js`, see the README section "Switching brokers live"). Every 100 ms it
 * publishes in one batch the jobs due at `LOAD_RATE` per second since the start, without waiting
 * for the previous batch (the offered rate does not drop while a broker or the machine is slow),
 * and reports which jobs the broker confirmed. It
 * stops after `LOAD_SECONDS`, or as soon as the file `LOAD_STOP_FILE` exists, or on `stop()`.
 */
import { existsSync } from 'node:fs'
import type { Bus, Transport } from '@switchyard/core'
import { BUS, type OnStart, type OnStop, TRANSPORT } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { type FileUploaded, topics } from './topics.js'

const tickMs = 100

@injectable()
export class JobLoad implements OnStart, OnStop {
  readonly #rate = Number(process.env.LOAD_RATE ?? 400)
  readonly #seconds = Number(process.env.LOAD_SECONDS ?? 30)
  readonly #stopFile = process.env.LOAD_STOP_FILE
  #timer: NodeJS.Timeout | undefined
  #sent = 0
  #confirmed = 0
  #unconfirmed = 0
  #startedAt = 0
  readonly #pending = new Set<Promise<void>>()
  #done: Promise<void> | undefined
  #finish: () => void = () => undefined

  constructor(
    @inject(BUS) private readonly bus: Bus,
    @inject(TRANSPORT) private readonly transport: Transport,
    @inject(OUTCOME_LOG) private readonly log: OutcomeLog,
  ) {}

  onStart(): void {
    this.#startedAt = Date.now()
    const total = Math.round(this.#rate * this.#seconds)
    this.#done = new Promise((resolve) => {
      this.#finish = resolve
    })
    this.#timer = setInterval(() => {
      if (this.#sent >= total || (this.#stopFile !== undefined && existsSync(this.#stopFile))) {
        void this.#end()
        return
      }
      // What is due by now, so late timer ticks (a busy machine) do not lower the offered rate.
      const due = Math.round((this.#rate * (Date.now() - this.#startedAt)) / 1000) - this.#sent
      const count = Math.min(due, total - this.#sent, this.#rate) // at most one second's worth at once
      if (count > 0) this.#send(count)
    }, tickMs)
  }

  async onStop(): Promise<void> {
    await this.#end()
  }

  #send(count: number): void {
    const jobs: FileUploaded[] = Array.from({ length: count }, (_, i) => {
      const n = this.#sent + i
      return { jobId: `load-${process.pid}-${n}`, talentId: 'load', fileName: `cv-${n}.pdf`, sizeBytes: n }
    })
    this.#sent += count
    const jobIds = jobs.map((j) => j.jobId)
    const publish = this.bus
      .publishBatch(jobs.map((job) => ({ topic: topics.fileUploaded, payload: job, id: job.jobId })))
      .then(
        () => {
          this.#confirmed += count
          this.log.record({ type: 'jobs-published', jobIds, transport: this.transport.kind })
        },
        (error: unknown) => {
          this.#unconfirmed += count
          const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
          this.log.record({ type: 'jobs-unconfirmed', jobIds, error: reason })
        },
      )
    this.#pending.add(publish)
    void publish.then(() => this.#pending.delete(publish))
  }

  /** Stops producing, waits for the publishes in flight, reports once. */
  #end(): Promise<void> {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
      void Promise.all(this.#pending).then(() => {
        this.log.record({
          type: 'load-done',
          offered: this.#sent,
          confirmed: this.#confirmed,
          unconfirmed: this.#unconfirmed,
          startedAt: this.#startedAt,
        })
        this.#finish()
      })
    }
    return this.#done ?? Promise.resolve()
  }
}
