/**
 * The transport contract suite on the in-memory transport, in two configurations: the default
 * (replay and a 1 MiB message limit) and one without retention or size limit, so the negative
 * branches of the suite (no `replay`, no `maxMessageBytes`) run on every `npm test` too.
 */
import { transportContract } from '@switchyard/contract'
import { MemoryTransport } from '../memory-transport.js'

transportContract('memory', () => new MemoryTransport())

transportContract(
  'memory without retention or size limit',
  () => new MemoryTransport({ retention: 0, maxMessageBytes: Number.POSITIVE_INFINITY }),
)
