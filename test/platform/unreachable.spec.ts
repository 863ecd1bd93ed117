import { CancelledError, UnavailableError, WrongExpectedVersionError } from '@eventstore/db-client';
import { expect } from 'chai';
import pg from 'pg';
import { z } from 'zod';
import { EventStoreUnavailableError, InvalidInputError, WrongExpectedRevisionError } from '../../src/eventstore/errors.js';
import { unreachableDependency } from '../../src/platform/unreachable.js';
import { freePort } from '../support/private-redis.js';

/** A server's error as pg reports it: its SQLSTATE in `code`. */
function serverError(code: string, message: string): Error {
  return Object.assign(new pg.DatabaseError(message, 0, 'error'), { code, severity: 'FATAL' });
}

const withCode = (code: string, message = `connect ${code} 127.0.0.1:5432`) => Object.assign(new Error(message), { code });

describe('unreachableDependency', () => {
  it('recognises a connection PostgreSQL refuses, as pg reports it', async () => {
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none` });
    client.on('error', () => undefined);
    const error = await client.connect().then(() => undefined, (failure: unknown) => failure);
    expect(unreachableDependency(error)).to.equal('postgres');
  });

  const postgresOutages: [string, Error][] = [
    ['connection refused', withCode('ECONNREFUSED')],
    ['connection reset', withCode('ECONNRESET', 'read ECONNRESET')],
    ['a socket timeout', withCode('ETIMEDOUT')],
    ['a broken pipe', withCode('EPIPE', 'write EPIPE')],
    ['an unreachable host', withCode('EHOSTUNREACH')],
    ['a name that does not resolve for now', withCode('EAI_AGAIN', 'getaddrinfo EAI_AGAIN db')],
    ['each address refusing (happy eyeballs)', new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')])],
    ['admin shutdown (57P01)', serverError('57P01', 'terminating connection due to administrator command')],
    ['crash shutdown (57P02)', serverError('57P02', 'terminating connection because of crash of another server process')],
    ['a server starting up (57P03)', serverError('57P03', 'the database system is starting up')],
    ['a server shutting down (57P03)', serverError('57P03', 'the database system is shutting down')],
    ['too many connections (53300)', serverError('53300', 'sorry, too many clients already')],
    ['a connection failure (08006)', serverError('08006', 'connection failure')],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['a dropped connection, as knex rethrows it', new Error('select * from "read"."pipeline" where "deals" > $1 - Connection terminated unexpectedly')],
    ['a connection timeout', new Error('Connection terminated due to connection timeout')],
    ['a client whose socket failed', new Error('Client has encountered a connection error and is not queryable')],
    ["knex's dead pooled connection", new Error('Connection ended unexpectedly')],
    [
      "knex's acquire timeout",
      Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?'), { name: 'KnexTimeoutError' }),
    ],
    // knex puts the SQL before the driver's message and keeps the code.
    ['a query cut by a shutdown, as knex rethrows it', Object.assign(serverError('57P01', 'select 1 - terminating connection due to administrator command'))],
    ['a wrapped cause', new Error('reading the deal failed', { cause: withCode('ECONNRESET') })],
  ];
  for (const [what, error] of postgresOutages) {
    it(`says postgres for ${what}`, () => expect(unreachableDependency(error)).to.equal('postgres'));
  }

  const eventStoreOutages: [string, Error][] = [
    ["EventStoreDB's client: unavailable", new UnavailableError(undefined as never, 'No connection established')],
    ["EventStoreDB's client: a channel it dropped", new CancelledError(undefined as never, 'Cancelled')],
    ["the adapter's append given up", new EventStoreUnavailableError('deal-1', 4, new UnavailableError(undefined as never, 'down'))],
    ['a cluster it cannot discover', new Error('Failed to discover after 10 attempts.')],
  ];
  for (const [what, error] of eventStoreOutages) {
    it(`says eventstore for ${what}`, () => expect(unreachableDependency(error)).to.equal('eventstore'));
  }

  const notOutages: [string, unknown][] = [
    ['a conflict', new WrongExpectedRevisionError('deal-1', 1n, 2n)],
    ["EventStoreDB's conflict", new WrongExpectedVersionError(undefined as never, { streamName: 'deal-1', expected: 1n, current: 2n } as never)],
    ['bad input', new InvalidInputError('events[0]', 'is too large')],
    ['a unique violation', serverError('23505', 'duplicate key value violates unique constraint')],
    ['a syntax error', serverError('42601', 'syntax error at or near "selct"')],
    ['a statement timeout', serverError('57014', 'canceling statement due to statement timeout')],
    ['a protocol violation', serverError('08P01', 'invalid message format')],
    ['a request body its client cut short', Object.assign(new Error('request aborted'), { code: 'ECONNABORTED', type: 'request.aborted', status: 400 })],
    ['a message that only mentions a dropped connection', new Error('Connection terminated unexpectedly, said the note')],
    ['a client closed on purpose', new Error('Client was closed and is not queryable')],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a refused body', z.object({ a: z.string() }).safeParse({}).error],
    ['not an error at all', 'ECONNREFUSED'],
    ['nothing', undefined],
  ];
  for (const [what, error] of notOutages) {
    it(`says nothing for ${what}`, () => expect(unreachableDependency(error)).to.equal(undefined));
  }

  it('stops on a cause that refers to itself', () => {
    const error = new Error('loop');
    (error as { cause?: unknown }).cause = error;
    expect(unreachableDependency(error)).to.equal(undefined);
  });
});
