/** Entry point of the `search-index` service, one process: `node dist/search-index.js` (see run-service.ts). */
import { runService } from './run-service.js'

await runService('search-index')
