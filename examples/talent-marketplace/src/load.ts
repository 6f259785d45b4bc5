/** Entry point of the `load` service, one process: `node dist/load.js` (a worker that also produces jobs; see run-service.ts). */
import { runService } from './run-service.js'

await runService('load')
