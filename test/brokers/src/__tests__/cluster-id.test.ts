/**
 * Kafka cluster ids are passed to StorageTool as `-t <id>`; one starting with `-` is read as a
 * missing value and the format fails (exit 1).
 */
import { describe, expect, it } from 'vitest'
import { clusterId } from '../kafka.js'

describe('clusterId', () => {
  it('is 16 bytes of base64url that never starts with "-" (5,000 draws; 1 in 64 would without the check)', () => {
    for (let i = 0; i < 5000; i++) {
      const id = clusterId()
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/)
      expect(Buffer.from(id, 'base64url')).toHaveLength(16)
    }
  })
})
