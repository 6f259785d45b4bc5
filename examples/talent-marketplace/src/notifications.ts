/** Entry point of the `notifications` service, one process: `node dist/notifications.js` (see run-service.ts). */
import { runService } from './run-service.js'

await runService('notifications')
