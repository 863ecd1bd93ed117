/**
 * The EventStoreDB gRPC protocol exactly as @eventstore/db-client 6.2.1 ships it: its generated
 * google-protobuf messages and grpc-js service definitions. The double and the client share these
 * classes, so whatever the double encodes is decoded by the very code the adapter runs.
 *
 * The generated modules are CommonJS and assign their exports in a way Node's ESM loader cannot
 * name, so they are loaded through default imports; their types come from the .d.ts files beside
 * them.
 */
import streamsModule from '@eventstore/db-client/generated/streams_pb.js';
import streamsServiceModule from '@eventstore/db-client/generated/streams_grpc_pb.js';
import sharedModule from '@eventstore/db-client/generated/shared_pb.js';
import statusModule from '@eventstore/db-client/generated/status_pb.js';
import codeModule from '@eventstore/db-client/generated/code_pb.js';
import serverFeaturesModule from '@eventstore/db-client/generated/serverfeatures_pb.js';
import serverFeaturesServiceModule from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js';
import anyModule from 'google-protobuf/google/protobuf/any_pb.js';
import emptyModule from 'google-protobuf/google/protobuf/empty_pb.js';

export type {
  AppendReq,
  AppendResp,
  BatchAppendReq,
  BatchAppendResp,
  ReadReq,
  ReadResp,
} from '@eventstore/db-client/generated/streams_pb.js';
export type { UUID, StreamIdentifier } from '@eventstore/db-client/generated/shared_pb.js';
export type { Status } from '@eventstore/db-client/generated/status_pb.js';

export const streams = streamsModule;
export const shared = sharedModule;
export const rpcStatus = statusModule;
export const rpcCode = codeModule.Code;
export const serverFeatures = serverFeaturesModule;
export const StreamsService = streamsServiceModule.StreamsService;
/** The generated gRPC client, for tests that look at the protocol beneath EventStoreDBClient. */
export const StreamsClient = streamsServiceModule.StreamsClient;
export const ServerFeaturesService = serverFeaturesServiceModule.ServerFeaturesService;
/** `google.protobuf.Any`, which carries the typed details of a BatchAppend error. */
export const ProtobufAny = anyModule.Any;
/** `google.protobuf.Empty`, used by the BatchAppend messages (Append and Read use the shared one). */
export const ProtobufEmpty = emptyModule.Empty;
