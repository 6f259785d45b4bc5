/**
 * kafkajs as an ES module with every named export. kafkajs is CommonJS and Node's ESM loader only
 * sees the names its lexer can detect: `CompressionCodecs` is not among them, so `import {
 * CompressionCodecs } from 'kafkajs'` — which @switchyard/kafka's dist does — fails under plain
 * Node (vitest's interop hides it). `esm-hooks.ts` points that import here until the adapter is fixed.
 */
import kafkajs from 'kafkajs'

export const {
  AssignerProtocol,
  CompressionCodecs,
  CompressionTypes,
  ConfigResourceTypes,
  ConfigSource,
  AclResourceTypes,
  AclOperationTypes,
  AclPermissionTypes,
  ResourcePatternTypes,
  Kafka,
  PartitionAssigners,
  Partitioners,
  logLevel,
} = kafkajs
export default kafkajs
