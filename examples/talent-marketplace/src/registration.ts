/** Entry point of the `registration` service, one process: `node dist/registration.js` (see run-service.ts). */
import { runService } from './run-service.js'

await runService('registration')
