import type { handleBidiStreamingCall, handleClientStreamingCall } from '@grpc/grpc-js';
import type { AppendRefusals } from './append-refusals.js';
import {
  appendExpectedRevision,
  appendResponse,
  badRequestStatus,
  batchAppendResult,
  batchExpectedRevision,
  InvalidAppend,
  proposedEvent,
  timeoutStatus,
} from './append-messages.js';
import type { EventLog, ProposedEvent } from './event-log.js';
import { streams, type AppendReq, type AppendResp, type BatchAppendReq, type BatchAppendResp } from './protocol.js';
import { streamName } from './read-messages.js';
import { uuidText } from './uuid.js';

const REFUSED = 'refused by the EventStoreDB double (refuseAppends)';

/**
 * Streams.Append (the options, then one proposed event per message, answered once the client has
 * sent them all) and Streams.BatchAppend (one long-lived call carrying many appends, each a run of
 * chunks under one correlation id with options in the first and `is_final` on the last, answered
 * per append). Either way an append is checked and stored as one, or not at all.
 */
export class AppendService {
  constructor(
    private readonly log: EventLog,
    private readonly refusals: AppendRefusals,
  ) {}

  readonly append: handleClientStreamingCall<AppendReq, AppendResp> = (call, callback) => {
    let options: AppendReq.Options | undefined;
    const events: ProposedEvent[] = [];
    let invalid: InvalidAppend | undefined;
    call.on('data', (request: AppendReq) => {
      if (invalid) return;
      try {
        if (options) events.push(proposedEvent(request.getProposedMessage() ?? fail('AppendReq without a proposed message')));
        else options = request.getOptions() ?? fail('The first AppendReq carries no options');
      } catch (error) {
        invalid = asInvalidAppend(error);
      }
    });
    call.on('end', () => {
      try {
        if (invalid) throw invalid;
        if (!options) throw new InvalidAppend('Append without options');
        const refusal = this.refusals.next();
        if (refusal !== undefined) return callback({ code: refusal, details: REFUSED });
        const streamId = streamName(options.getStreamIdentifier()) ?? fail('Append without a stream');
        const expected = appendExpectedRevision(options);
        callback(null, appendResponse(this.log.append(streamId, expected, events), expected));
      } catch (error) {
        callback(asInvalidAppend(error).reply);
      }
    });
  };

  readonly batchAppend: handleBidiStreamingCall<BatchAppendReq, BatchAppendResp> = (call) => {
    const pending = new Map<string, PendingBatch>();
    let refused = false;
    call.on('data', (request: BatchAppendReq) => {
      if (refused) return;
      const correlationId = uuidText(request.getCorrelationId());
      if (correlationId === undefined) return;
      const options = request.getOptions();
      if (options) pending.set(correlationId, { options, events: [] });
      const batch = pending.get(correlationId);
      if (!batch) return; // a chunk of an append the server never saw begin: ignored, as the server does
      try {
        batch.events.push(...request.getProposedMessagesList().map(proposedEvent));
      } catch (error) {
        batch.invalid ??= asInvalidAppend(error);
      }
      if (!request.getIsFinal()) return;
      pending.delete(correlationId);
      const refusal = this.refusals.next();
      if (refusal !== undefined) {
        // The whole call fails, as when the server goes away: the client fails every append it has in flight.
        refused = true;
        call.emit('error', { code: refusal, details: REFUSED });
        return;
      }
      call.write(this.completeBatch(request, batch));
    });
    call.on('end', () => {
      if (!refused) call.end();
    });
  };

  private completeBatch(request: BatchAppendReq, batch: PendingBatch): BatchAppendResp {
    const response = new streams.BatchAppendResp().setCorrelationId(request.getCorrelationId());
    const identifier = batch.options.getStreamIdentifier();
    if (identifier) response.setStreamIdentifier(identifier);
    try {
      if (batch.invalid) throw batch.invalid;
      const deadline = batch.options.getDeadline()?.toDate();
      if (deadline && deadline.getTime() <= Date.now()) return response.setError(timeoutStatus());
      const streamId = streamName(identifier) ?? fail('Required field StreamIdentifier not set.');
      const expected = batchExpectedRevision(batch.options);
      return batchAppendResult(response, this.log.append(streamId, expected, batch.events), expected);
    } catch (error) {
      return response.setError(badRequestStatus(asInvalidAppend(error).message));
    }
  }
}

interface PendingBatch {
  options: BatchAppendReq.Options;
  events: ProposedEvent[];
  invalid?: InvalidAppend;
}

function fail(message: string): never {
  throw new InvalidAppend(message);
}

function asInvalidAppend(error: unknown): InvalidAppend {
  if (error instanceof InvalidAppend) return error;
  return new InvalidAppend(error instanceof Error ? error.message : String(error));
}
