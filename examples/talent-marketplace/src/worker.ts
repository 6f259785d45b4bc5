/** Entry point of the `worker` service, one process: `node dist/worker.js` (see run-service.ts). */
import { runService } from './run-service.js'

await runService('worker')
