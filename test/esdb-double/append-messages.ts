import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import type { Map as ProtobufMap } from 'google-protobuf';
import type { ExpectedRevision } from './append-decision.js';
import type { AppendResult, LogPosition, ProposedEvent } from './event-log.js';
import {
  ProtobufAny,
  ProtobufEmpty,
  rpcCode,
  rpcStatus,
  shared,
  streams,
  type AppendReq,
  type AppendResp,
  type BatchAppendReq,
  type BatchAppendResp,
  type Status,
  type UUID,
} from './protocol.js';
import { uuidText } from './uuid.js';

/** The Append and BatchAppend messages, shaped as EventStoreDB 23.x sends them. */

/** What Append and BatchAppend both propose for one event. */
interface ProposedMessage {
  getId(): UUID | undefined;
  getMetadataMap(): ProtobufMap<string, string>;
  getData_asU8(): Uint8Array;
  getCustomMetadata_asU8(): Uint8Array;
}

/** An append the server refuses before looking at the stream; `reply` is how Append reports it. */
export class InvalidAppend extends Error {
  constructor(
    message: string,
    readonly reply: Partial<StatusObject> = { code: status.INVALID_ARGUMENT, details: message },
  ) {
    super(message);
  }
}

export function proposedEvent(message: ProposedMessage): ProposedEvent {
  const id = uuidText(message.getId());
  if (id === undefined) throw new InvalidAppend('A proposed event has no valid UUID');
  const metadata = message.getMetadataMap();
  const type = metadata.get('type');
  const contentType = metadata.get('content-type');
  if (type === undefined) throw missingMetadata('type');
  if (contentType === undefined) throw missingMetadata('content-type');
  return {
    id,
    type,
    isJson: contentType === 'application/json',
    data: message.getData_asU8(),
    customMetadata: message.getCustomMetadata_asU8(),
  };
}

/** The server's RequiredMetadataPropertyMissing, which the client turns into its error of that name. */
function missingMetadata(property: string): InvalidAppend {
  const details = `Required Metadata Property '${property}' is missing`;
  const metadata = new Metadata();
  metadata.set('exception', 'missing-required-metadata-property');
  metadata.set('required-metadata-properties', property);
  return new InvalidAppend(details, { code: status.INVALID_ARGUMENT, details, metadata });
}

export function appendExpectedRevision(options: AppendReq.Options): ExpectedRevision {
  const { ExpectedStreamRevisionCase } = streams.AppendReq.Options;
  switch (options.getExpectedStreamRevisionCase()) {
    case ExpectedStreamRevisionCase.REVISION:
      return BigInt(options.getRevision());
    case ExpectedStreamRevisionCase.NO_STREAM:
      return 'no_stream';
    case ExpectedStreamRevisionCase.STREAM_EXISTS:
      return 'stream_exists';
    case ExpectedStreamRevisionCase.ANY:
      return 'any';
    default:
      throw new InvalidAppend('AppendReq options without an expected revision');
  }
}

export function batchExpectedRevision(options: BatchAppendReq.Options): ExpectedRevision {
  const { ExpectedStreamPositionCase } = streams.BatchAppendReq.Options;
  switch (options.getExpectedStreamPositionCase()) {
    case ExpectedStreamPositionCase.STREAM_POSITION:
      return BigInt(options.getStreamPosition());
    case ExpectedStreamPositionCase.NO_STREAM:
      return 'no_stream';
    case ExpectedStreamPositionCase.STREAM_EXISTS:
      return 'stream_exists';
    case ExpectedStreamPositionCase.ANY:
      return 'any';
    default:
      throw new InvalidAppend('BatchAppendReq options without an expected revision');
  }
}

/**
 * Append's answer. Success carries the stream's revision after the append and the position of its
 * last event (an idempotent retry gets those of the append it repeats).
 */
export function appendResponse(result: AppendResult, expected: ExpectedRevision): AppendResp {
  const response = new streams.AppendResp();
  if (result.outcome === 'wrong_expected_version') {
    const wrong = new streams.AppendResp.WrongExpectedVersion();
    if (result.currentRevision === undefined) wrong.setCurrentNoStream(new shared.Empty());
    else wrong.setCurrentRevision(result.currentRevision.toString());
    if (expected === 'any') wrong.setExpectedAny(new shared.Empty());
    else if (expected === 'no_stream') wrong.setExpectedNoStream(new shared.Empty());
    else if (expected === 'stream_exists') wrong.setExpectedStreamExists(new shared.Empty());
    else wrong.setExpectedRevision(expected.toString());
    return response.setWrongExpectedVersion(wrong);
  }
  const success = new streams.AppendResp.Success();
  if (result.lastRevision === undefined) success.setNoStream(new shared.Empty());
  else success.setCurrentRevision(result.lastRevision.toString());
  if (result.position === undefined) success.setNoPosition(new shared.Empty());
  else success.setPosition(new streams.AppendResp.Position().setCommitPosition(commit(result.position)).setPreparePosition(prepare(result.position)));
  return response.setSuccess(success);
}

/** BatchAppend's answer to one batch: the same success as Append's; failures as a google.rpc.Status. */
export function batchAppendResult(response: BatchAppendResp, result: AppendResult, expected: ExpectedRevision): BatchAppendResp {
  if (result.outcome === 'wrong_expected_version') return response.setError(wrongExpectedVersionStatus(result.currentRevision, expected));
  const success = new streams.BatchAppendResp.Success();
  if (result.lastRevision === undefined) success.setNoStream(new ProtobufEmpty());
  else success.setCurrentRevision(result.lastRevision.toString());
  if (result.position === undefined) success.setNoPosition(new ProtobufEmpty());
  else success.setPosition(new shared.AllStreamPosition().setCommitPosition(commit(result.position)).setPreparePosition(prepare(result.position)));
  return response.setSuccess(success);
}

/** Code ALREADY_EXISTS with the details the client unpacks into WrongExpectedVersionError. */
function wrongExpectedVersionStatus(current: bigint | undefined, expected: ExpectedRevision): Status {
  const detail = new shared.WrongExpectedVersion();
  if (current === undefined) detail.setCurrentNoStream(new ProtobufEmpty());
  else detail.setCurrentStreamRevision(current.toString());
  if (expected === 'any') detail.setExpectedAny(new ProtobufEmpty());
  else if (expected === 'no_stream') detail.setExpectedNoStream(new ProtobufEmpty());
  else if (expected === 'stream_exists') detail.setExpectedStreamExists(new ProtobufEmpty());
  else detail.setExpectedStreamPosition(expected.toString());
  return errorStatus(rpcCode.ALREADY_EXISTS, 'WrongExpectedVersion', detail, 'WrongExpectedVersion');
}

export function timeoutStatus(): Status {
  return errorStatus(rpcCode.DEADLINE_EXCEEDED, 'Timeout', new shared.Timeout(), 'Timeout');
}

export function badRequestStatus(message: string): Status {
  return errorStatus(rpcCode.INVALID_ARGUMENT, 'BadRequest', new shared.BadRequest().setMessage(message), 'BadRequest');
}

function errorStatus(code: number, message: string, detail: { serializeBinary(): Uint8Array }, detailType: string): Status {
  const details = new ProtobufAny();
  details.pack(detail.serializeBinary(), `event_store.client.${detailType}`);
  return new rpcStatus.Status().setCode(code).setMessage(message).setDetails(details);
}

const commit = (position: LogPosition) => position.commit.toString();
const prepare = (position: LogPosition) => position.prepare.toString();
