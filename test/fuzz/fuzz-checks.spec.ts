import { expect } from 'chai';
import type { EventStore, RecordedEvent } from '../../src/eventstore/contract.js';
import { PROBLEM_CATALOG } from '../../src/http/problem-catalog.js';
import { EventLedger, correlationIdOf } from './event-ledger.js';
import type { Operation } from './operations.js';
import type { Outcome, Sent } from './send.js';
import { verdictOn } from './verdict.js';

/** The fuzz suite's own judges, on answers and logs made up to fail them. */
describe('fuzz checks', () => {
  describe('verdictOn', () => {
    const sent = (blame: string[] = [], body = '{}'): Sent => ({ method: 'post', url: '/api/x', headers: {}, body: Buffer.from(body), blame });
    /** A problem of the first catalogued code with this status. */
    const problem = (status: number, extra: object = {}): Outcome => {
      const { code, title, type } = PROBLEM_CATALOG.find((entry) => entry.status === status)!;
      return { status, contentType: 'application/problem+json; charset=utf-8', body: { type, title, status, code, ...extra } };
    };

    it('passes successes and well-formed problems', () => {
      expect(verdictOn(sent(), { status: 201, contentType: 'application/json', body: {} }, [])).to.equal(undefined);
      expect(verdictOn(sent(), problem(404), [])).to.equal(undefined);
      expect(verdictOn(sent(), problem(400, { errors: [{ field: 'text', message: 'is required' }] }), [])).to.equal(undefined);
    });

    it('fails a 5xx, a 4xx that is not problem+json, and a problem whose status is not the answer', () => {
      expect(verdictOn(sent(), problem(500), [])).to.equal('server error');
      expect(verdictOn(sent(), { status: 404, contentType: 'text/html', body: '' }, [])).to.match(/not application\/problem\+json/);
      expect(verdictOn(sent(), { ...problem(400), status: 409 }, [])).to.match(/status/);
    });

    it("fails a problem without a catalogued code, or with a title or type not its code's", () => {
      expect(verdictOn(sent(), problem(404, { code: undefined }), [])).to.match(/code is not catalogued/);
      expect(verdictOn(sent(), problem(404, { code: 'NOT.A_CODE' }), [])).to.match(/code is not catalogued/);
      expect(verdictOn(sent(), problem(404, { title: 'Deal 42 not found' }), [])).to.match(/title or type/);
      expect(verdictOn(sent(), problem(404, { type: '/problems/elsewhere' }), [])).to.match(/title or type/);
    });

    it('fails a 400 naming no field, unless nothing could be named: an unreadable body, a bad path, a bad header it names', () => {
      expect(verdictOn(sent(), problem(400), [])).to.match(/without errors/);
      expect(verdictOn(sent(), problem(400, { detail: 'Unexpected token' }), [])).to.match(/no errors/);
      expect(verdictOn(sent(['body'], '{'), problem(400, { detail: 'Unexpected end of JSON input' }), [])).to.equal(undefined);
      expect(verdictOn(sent(['if-match']), problem(400, { detail: 'If-Match must be a revision' }), [])).to.equal(undefined);
      expect(verdictOn(sent(), problem(400, { errors: [{ field: 'text' }] }), [])).to.match(/not all \{field, message\}/);
    });

    it('fails a feed that ends, or whose server logs trouble, after its 200', () => {
      const feed = { status: 200, contentType: 'text/event-stream', body: 'retry: 3000\n\n' };
      expect(verdictOn(sent(), { ...feed, streamEnded: true }, [])).to.match(/ended by itself/);
      expect(verdictOn(sent(), { ...feed, streamEnded: false }, [{ level: 'warn' }])).to.match(/failed after answering 200/);
      expect(verdictOn(sent(), { ...feed, streamEnded: false }, [])).to.equal(undefined);
    });
  });

  describe('EventLedger', () => {
    const command = { method: 'post', template: '/api/deals', command: true } as Operation;
    const subscription = { method: 'post', template: '/api/integrations/webhooks', command: false } as Operation;
    const event = (id: string, position: string, seq?: number): RecordedEvent => ({
      id, streamId: 'deal-1', type: 'DealCreated', revision: 0n, position, data: {}, recordedAt: new Date(),
      metadata: seq === undefined ? { correlationId: 'migrated-x' } : { correlationId: correlationIdOf(seq, 't') },
    });
    const storeOf = (events: RecordedEvent[], unreadable = new Set<string>()) =>
      ({
        async *readAll(options?: { from?: string }) {
          if (options?.from && unreadable.has(options.from)) throw new Error('out of range');
          yield* events;
        },
      }) as unknown as EventStore;

    it('agrees when each success has its events and a replay names an earlier one', async () => {
      const events = [event('a', 'p1', 1), event('b', 'p2', 1)];
      const ledger = new EventLedger(new Set());
      ledger.note(1, command, 201, { position: 'p2' });
      ledger.note(2, command, 200, { position: 'p2' }); // the same Idempotency-Key again
      ledger.note(3, command, 400, { type: '/problems/invalid-request' });
      const { findings, counts } = await ledger.check(storeOf(events));
      expect(findings).to.deep.equal([]);
      expect(counts).to.deep.equal({ events: 2, commands: 2, commandsWithEvents: 1, commandsWithout: 1 });
    });

    it('finds an event of a failed request, one no request asked for, and a success that appended nothing', async () => {
      const events = [event('old', 'p0'), event('a', 'p1', 1), event('b', 'p2', 2), event('c', 'p3', 5)];
      const ledger = new EventLedger(new Set(['old']));
      ledger.note(1, command, 500, {});
      ledger.note(2, command, 201, { position: 'p9' });
      ledger.note(4, command, 201, { position: 'p3' }); // an event of request 5, which came after it
      const { findings } = await ledger.check(storeOf(events));
      expect(findings.map((finding) => finding.reason)).to.deep.equal([
        'an event appended for a request answered 500',
        'an event no request of the run asked for',
        'a command answered a position none of its events holds',
        'a command answered success, appended nothing, and names no earlier event',
      ]);
    });

    it('finds a kept position the log cannot be read from', async () => {
      const ledger = new EventLedger(new Set());
      ledger.note(1, subscription, 201, { id: 'w', position: 'ffff' });
      const { findings } = await ledger.check(storeOf([], new Set(['ffff'])));
      expect(findings.map((finding) => finding.reason)).to.deep.equal(['an answer kept a position the log cannot be read from']);
    });
  });
});
