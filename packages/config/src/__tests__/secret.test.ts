/** Secrets: AES-256-GCM envelopes, redaction, wrong keys, rotation and the value codec. */
import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import type { SecretKeyring } from '@switchyard/config'
import { isSwitchyardError } from '@switchyard/core'
import { describe, expect, it } from 'vitest'
import { openEnvelope, Secret, sealValue, validateKeyring } from '../secret.js'
import { decodeValue, encodeValue } from '../value-codec.js'

const ring = (id: string): SecretKeyring => ({ current: { id, key: randomBytes(32) } })
const plain = 's3cr3t-value-for-tests'

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('Secret', () => {
  it('never prints its value', () => {
    const s = new Secret(plain)
    expect(String(s)).toBe('[secret]')
    expect(`${s}`).not.toContain(plain)
    expect(JSON.stringify({ s })).toBe('{"s":"[secret]"}')
    expect(inspect({ s })).not.toContain(plain)
    expect(s.reveal()).toBe(plain)
  })

  it('round-trips through an envelope with iv, tag and key id, and fails on a wrong key or tampering', () => {
    const k1 = ring('k1')
    const envelope = sealValue({ password: plain }, k1)
    expect(envelope).toMatchObject({ v: 1, alg: 'A256GCM', kid: 'k1' })
    expect(Buffer.from(envelope.iv, 'base64')).toHaveLength(12)
    expect(Buffer.from(envelope.tag, 'base64')).toHaveLength(16)
    expect(JSON.stringify(envelope)).not.toContain(plain)
    expect(openEnvelope(envelope, k1).reveal()).toEqual({ password: plain })

    const wrong = thrown(() => openEnvelope(envelope, { current: { id: 'k1', key: randomBytes(32) } }))
    expect(isSwitchyardError(wrong, 'SecretKeyError')).toBe(true)
    expect(String((wrong as Error).message)).not.toContain(plain)
    expect(
      isSwitchyardError(
        thrown(() => openEnvelope(envelope, ring('other'))),
        'SecretKeyError',
      ),
    ).toBe(true)
    const tampered = { ...envelope, ct: Buffer.from('x'.repeat(20)).toString('base64') }
    expect(
      isSwitchyardError(
        thrown(() => openEnvelope(tampered, k1)),
        'SecretKeyError',
      ),
    ).toBe(true)
  })

  it('uses a fresh iv for every encryption', () => {
    const k = ring('k')
    expect(sealValue(plain, k).iv).not.toBe(sealValue(plain, k).iv)
  })

  it('rejects keys that are not 32 bytes or have no id', () => {
    expect(
      isSwitchyardError(
        thrown(() => validateKeyring({ current: { id: 'k', key: randomBytes(16) } })),
        'SecretKeyError',
      ),
    ).toBe(true)
    expect(
      isSwitchyardError(
        thrown(() => validateKeyring({ current: { id: '', key: randomBytes(32) } })),
        'SecretKeyError',
      ),
    ).toBe(true)
  })
})

describe('value codec', () => {
  it('encrypts secret fields inside documents and opens them again', () => {
    const k1 = ring('k1')
    const raw = encodeValue({ user: 'u', nested: [{ password: new Secret(plain) }] }, k1, 'db')
    expect(raw).not.toContain(plain)
    expect(raw).toContain('"$secret"')
    const value = decodeValue(raw, k1) as { user: string; nested: [{ password: Secret<string> }] }
    expect(value.user).toBe('u')
    expect(value.nested[0].password.reveal()).toBe(plain)
  })

  it('reads secrets sealed without a keyring and writes them back unchanged', () => {
    const k1 = ring('k1')
    const raw = encodeValue({ password: new Secret(plain) }, k1, 'db')
    const sealed = decodeValue(raw, undefined) as { password: Secret<string> }
    expect(sealed.password.sealed).toBe(true)
    expect(
      isSwitchyardError(
        thrown(() => sealed.password.reveal()),
        'SecretKeyError',
      ),
    ).toBe(true)
    expect(encodeValue(sealed, undefined, 'db')).toBe(raw)
    expect(
      (
        decodeValue(encodeValue(sealed, undefined, 'db'), k1) as { password: Secret<string> }
      ).password.reveal(),
    ).toBe(plain)
  })

  it('refuses to write a secret without a keyring, naming the field but not the value', () => {
    const error = thrown(() => encodeValue({ a: { b: new Secret(plain) } }, undefined, 'db'))
    expect(isSwitchyardError(error, 'SecretKeyError')).toBe(true)
    expect((error as Error).message).toContain('a.b')
    expect((error as Error).message).not.toContain(plain)
  })

  it('re-encrypts with the current key on rotation while reading with previous keys', () => {
    const k1 = ring('k1')
    const k2 = ring('k2')
    const old = encodeValue({ p: new Secret(plain) }, k1, 'db')
    const rotating: SecretKeyring = { current: k2.current, previous: [k1.current] }
    const rewritten = encodeValue(decodeValue(old, rotating), rotating, 'db')
    expect((decodeValue(rewritten, k2) as { p: Secret<string> }).p.keyId).toBe('k2')
    expect(
      isSwitchyardError(
        thrown(() => decodeValue(rewritten, k1)),
        'SecretKeyError',
      ),
    ).toBe(true)
  })

  it('returns a value that is not JSON as the string itself', () => {
    expect(decodeValue('plain text', undefined)).toBe('plain text')
  })
})
