import { describe, expect, it } from 'vitest'
import { tlsFailure } from '../spi.js'

describe('tlsFailure', () => {
  it.each([
    ['unable to verify the first certificate', 'untrusted-server-certificate'],
    ['self-signed certificate in certificate chain', 'untrusted-server-certificate'],
    [
      "Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list",
      'server-name-mismatch',
    ],
    ['certificate has expired', 'expired-server-certificate'],
    [
      'ssl3_read_bytes:sslv3 alert bad certificate:../rec_layer_s3.c:1601:SSL alert number 42',
      'client-certificate-refused',
    ],
    ['Client network socket disconnected before secure TLS connection was established', 'not-a-tls-server'],
    ['error:0A00010B:SSL routines::wrong version number', 'not-a-tls-server'],
    ['error:05800074:x509 certificate routines::key values mismatch', 'key-mismatch'],
  ])('recognises "%s" as %s, also when wrapped as a cause', (text, problem) => {
    const direct = tlsFailure('rabbitmq', 'amqps://127.0.0.1:5671', new Error(text))
    expect(direct?.problem).toBe(problem)
    expect(direct?.retryable).toBe(false)
    const wrapped = tlsFailure(
      'kafka',
      '127.0.0.1:9094',
      new Error('Connection error', { cause: new Error(text) }),
    )
    expect(wrapped?.problem).toBe(problem)
    expect(wrapped?.message).toMatch(/^TLS to kafka at 127\.0\.0\.1:9094 failed: /)
  })

  it('recognises Node TLS error codes', () => {
    const error = Object.assign(new Error('certificate is not valid'), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    })
    expect(tlsFailure('etcd', 'https://127.0.0.1:2399', error)?.problem).toBe('server-name-mismatch')
  })

  it('leaves every other error alone', () => {
    expect(tlsFailure('etcd', 'x', new Error('connect ECONNREFUSED 127.0.0.1:2379'))).toBeUndefined()
    expect(tlsFailure('etcd', 'x', 'a string')).toBeUndefined()
    expect(tlsFailure('etcd', 'x', undefined)).toBeUndefined()
  })
})
