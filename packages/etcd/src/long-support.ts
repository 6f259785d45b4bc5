/**
 * Makes sure etcd's 64-bit integers (lease ids, revisions) survive decoding.
 *
 * etcd3 decodes int64 fields through protobufjs, which looks `long` up with a dynamic `require`.
 * Where that lookup fails (bundlers, vitest's module runner), protobufjs silently decodes int64
 * as a JavaScript number and lease ids lose precision ("requested lease not found"). Importing
 * this module registers `long` explicitly. It has no other effect.
 */
import Long from 'long'
import protobuf from 'protobufjs'

if (!protobuf.util.Long) {
  protobuf.util.Long = Long
  protobuf.configure()
}
