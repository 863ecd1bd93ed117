import type { handleUnaryCall } from '@grpc/grpc-js';
import { serverFeatures, shared } from './protocol.js';

type SupportedMethods = InstanceType<typeof serverFeatures.SupportedMethods>;

/** A server version whose clients append through BatchAppend and read positions on stream reads. */
const SERVER_VERSION = '23.10.0';

/**
 * What the double serves, listed as the server lists its methods: lower case, with the features
 * the server attaches. The client appends through BatchAppend only when it is listed here.
 */
const METHODS: readonly { service: string; method: string; features?: string[] }[] = [
  { service: 'event_store.client.streams.streams', method: 'read', features: ['position', 'events'] },
  { service: 'event_store.client.streams.streams', method: 'append' },
  { service: 'event_store.client.streams.streams', method: 'batchappend', features: ['deadline_duration'] },
  { service: 'event_store.client.server_features.serverfeatures', method: 'getsupportedmethods' },
];

export const getSupportedMethods: handleUnaryCall<InstanceType<typeof shared.Empty>, SupportedMethods> = (_call, callback) => {
  const supported = new serverFeatures.SupportedMethods().setEventStoreServerVersion(SERVER_VERSION);
  for (const { service, method, features = [] } of METHODS) {
    supported.addMethods(new serverFeatures.SupportedMethod().setServiceName(service).setMethodName(method).setFeaturesList(features));
  }
  callback(null, supported);
};
