/**
 * worker: processes `file.uploaded` jobs (virus scan, thumbnail …) as a pool of competing
 * consumers: every worker process joins group `file-workers`, so each job goes to exactly one of
 * them. `inFlight: 8` is the prefetch: a worker holds at most 8 unfinished jobs, so a slow worker
 * does not hoard work that an idle one could take. `concurrency: 4` jobs run at once per process.
 */
import type { Message } from '@switchyard/core'
import { Handle } from '@switchyard/di'
import { inject, injectable } from 'tsyringe'
import { OUTCOME_LOG, type OutcomeLog } from './outcome-log.js'
import { type FileUploaded, groups, topics } from './topics.js'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

@injectable()
export class FileWorker {
  readonly name = `worker-${process.pid}`

  constructor(@inject(OUTCOME_LOG) private readonly log: OutcomeLog) {}

  @Handle(topics.fileUploaded, { group: groups.fileWorkers, concurrency: 4, inFlight: 8, retry: 3 })
  async onFileUploaded(message: Message<FileUploaded>): Promise<void> {
    await sleep(1 + (message.payload.sizeBytes % 3)) // pretend to work on the file
    const priority = Number(message.headers['x-marketplace-priority'] ?? 0)
    this.log.record({ type: 'job-processed', jobId: message.payload.jobId, priority, worker: this.name })
  }
}
