/**
 * Message headers as an OpenTelemetry propagation carrier: a getter over the read-only header
 * record of a delivered message, and a setter over the fresh record of an outgoing one.
 */
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api'

type Headers = Readonly<Record<string, string>>

/** Reads header values (names are lower case on every transport, as the W3C fields are). */
export const headersGetter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
}

/** Writes header values into a record the caller owns. */
export const headersSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value
  },
}
