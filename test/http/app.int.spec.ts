import { expect } from 'chai';
import type { Knex } from 'knex';
import express from 'express';
import request from 'supertest';
import winston from 'winston';
import Transport from 'winston-transport';
import { generateApiKey } from '../../src/auth/api-keys.js';
import { InvalidInputError } from '../../src/eventstore/errors.js';
import { problemHandler } from '../../src/http/problem.js';
import { apiDescription, createApp } from '../../src/http/app.js';
import { beginShutdown } from '../../src/http/shutdown.js';
import { EventStoreDBEventStore } from '../../src/eventstore/eventstoredb/eventstoredb-event-store.js';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgres-event-store.js';
import { createKnex } from '../../src/platform/database.js';
import { silentLogger } from '../../src/platform/logger.js';
import { startEsdbDouble } from '../esdb-double/index.js';
import { createKeys } from '../support/api-calls.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ReadPositions } from '../../src/queries/read-positions.js';

/** 503 problem+json with a Retry-After of a few seconds, and its code. */
function expectUnavailable(res: request.Response, code: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(503);
  expect(res.type).to.equal('application/problem+json');
  expect(Number(res.headers['retry-after'])).to.be.within(1, 10);
  expect(res.body).to.include({ status: 503, code });
}

/** A logger keeping what it is told at warn and above. */
function capturing(): { logger: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = winston.createLogger({
    level: 'warn',
    transports: [
      new (class extends Transport {
        override log(info: Record<string, unknown>, done: () => void) {
          lines.push({ ...info });
          done();
        }
      })(),
    ],
  });
  return { logger, lines };
}

describe('HTTP app', () => {
  let db: TestDatabase;
  let knex: Knex;
  let eventStore: PostgresEventStore;
  let readPositions: ReadPositions;

  before(async () => {
    db = await createTestDatabase();
    knex = createKnex(db.url, 2);
    eventStore = new PostgresEventStore({ connectionString: db.url });
    readPositions = new ReadPositions(knex, db.url, silentLogger());
  });
  after(async () => {
    await readPositions.close();
    await eventStore.close();
    await knex.destroy();
    await db.drop();
  });

  it('answers liveness and readiness', async () => {
    const app = createApp({ knex, eventStore, logger: silentLogger(), readPositions });
    await request(app).get('/health/live').expect(200, { status: 'ok' });
    await request(app).get('/health').expect(200, { status: 'ok' });
    await request(app).get('/health/ready').expect(200, { status: 'ok', checks: { postgres: 'ok', eventStore: 'ok' } });
  });

  it('is not ready when PostgreSQL is unreachable', async () => {
    const unreachable = createKnex('postgres://postgres@127.0.0.1:1/none', 1);
    try {
      const res = await request(createApp({ knex: unreachable, eventStore, logger: silentLogger(), readPositions })).get('/health/ready').expect(503);
      expect(res.body.status).to.equal('unavailable');
      expect(res.body.checks.postgres).to.match(/^unavailable/);
    } finally {
      await unreachable.destroy();
    }
  });

  it('is degraded, still serving reads, when the event store is unreachable', async () => {
    const unreachable = new PostgresEventStore({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    try {
      const res = await request(createApp({ knex, eventStore: unreachable, logger: silentLogger(), readPositions })).get('/health/ready').expect(200);
      expect(res.body.status).to.equal('degraded');
      expect(res.body.checks).to.include({ postgres: 'ok' });
      expect(res.body.checks.eventStore).to.match(/^unavailable/);
    } finally {
      await unreachable.close();
    }
  });

  it('answers 503 with Retry-After, not 500, when the event store does not take an append', async () => {
    const double = await startEsdbDouble();
    const unanswering = new EventStoreDBEventStore({ connectionString: double.connectionString });
    try {
      const { ops } = await createKeys(knex, { ops: 'operator' });
      double.refuseAppends(100);
      const res = await request(createApp({ knex, eventStore: unanswering, logger: silentLogger(), readPositions }))
        .post('/api/deals')
        .set('authorization', `Bearer ${ops}`)
        .send({ name: 'Acme', company: 'Acme Ltd', amount: { amount: '10.00', currency: 'EUR' } })
        .expect(503);
      expectUnavailable(res, 'EVENT_STORE.UNAVAILABLE');
      expect(double.eventCount).to.equal(0);
    } finally {
      await unanswering.close();
      await double.close();
    }
  });

  it('answers 503 with Retry-After when EventStoreDB is gone, and says so once in the log', async () => {
    const double = await startEsdbDouble();
    const gone = new EventStoreDBEventStore({ connectionString: double.connectionString });
    const { logger, lines } = capturing();
    try {
      const { gone: ops } = await createKeys(knex, { gone: 'operator' });
      await double.close();
      const app = createApp({ knex, eventStore: gone, logger, readPositions });
      for (let i = 0; i < 3; i++) {
        const res = await request(app).post('/api/deals').set('authorization', `Bearer ${ops}`).send({ name: 'Acme', company: 'Acme Ltd', amount: { amount: '10.00', currency: 'EUR' } });
        expectUnavailable(res, 'EVENT_STORE.UNAVAILABLE');
      }
      // Queries read PostgreSQL only: they still answer.
      await request(app).get('/api/deals').set('authorization', `Bearer ${ops}`).expect(200);
      expect(lines.map((line) => line.message)).to.deep.equal(['event store unreachable; answering 503 until it is back']);
      beginShutdown(app); // stops asking whether it is back
    } finally {
      await gone.close();
    }
  });

  it('answers commands and queries 503 with Retry-After while PostgreSQL is unreachable, saying so once in the log', async () => {
    const unreachable = createKnex('postgres://postgres@127.0.0.1:1/none', 1);
    const { logger, lines } = capturing();
    const app = createApp({ knex: unreachable, eventStore, logger, readPositions, authCacheMs: 0 });
    const bearer = `Bearer ${generateApiKey().key}`; // looked up in PostgreSQL, as every key is
    try {
      for (const send of [
        () => request(app).get('/api/deals').set('authorization', bearer),
        () => request(app).post('/api/deals/x/notes').set('authorization', bearer).send({ text: 'hello' }),
      ]) {
        for (let i = 0; i < 3; i++) expectUnavailable(await send(), 'DATABASE.UNAVAILABLE');
      }
      expect(lines.map((line) => line.message)).to.deep.equal(['postgres unreachable; answering 503 until it is back']);
      expect(lines[0]).to.include({ level: 'warn' }).and.not.have.property('stack');
    } finally {
      beginShutdown(app);
      await unreachable.destroy();
    }
  });

  it('serves its OpenAPI description (see openapi.spec.ts), with interactive docs', async () => {
    const app = createApp({ knex, eventStore, logger: silentLogger(), readPositions });
    const res = await request(app).get('/openapi.json').expect(200);
    expect(res.body).to.deep.equal(JSON.parse(JSON.stringify(apiDescription())));
    await request(app).get('/docs').expect(301).expect('location', '/docs/');
    const docs = await request(app).get('/docs/').expect(200);
    expect(docs.text).to.include('swagger-ui');
  });

  it('is not ready until the database is migrated', async () => {
    const bare = await createTestDatabase('dealstream_bare', { migrate: false });
    const bareKnex = createKnex(bare.url, 1);
    try {
      const res = await request(createApp({ knex: bareKnex, eventStore, logger: silentLogger(), readPositions })).get('/health/ready').expect(503);
      expect(res.body.checks.postgres).to.match(/^not migrated: .*event_store/);
    } finally {
      await bareKnex.destroy();
      await bare.drop();
    }
  });

  it("answers the event store's own input refusals with 400 naming the field, not 500", async () => {
    const app = express();
    app.post('/x', () => {
      throw new InvalidInputError('events[0]', 'is larger than 1048576 bytes when serialized');
    });
    app.use(problemHandler(silentLogger()));
    const res = await request(app).post('/x').expect(400);
    expect(res.type).to.equal('application/problem+json');
    expect(res.body.errors).to.deep.equal([{ field: 'events[0]', message: 'is larger than 1048576 bytes when serialized' }]);
  });

  it('answers unknown routes with problem+json', async () => {
    const res = await request(createApp({ knex, eventStore, logger: silentLogger(), readPositions })).get('/nothing').expect(404);
    expect(res.type).to.equal('application/problem+json');
    expect(res.body).to.include({ status: 404, title: 'Not found', type: '/problems/not-found' });
  });

  it('answers a malformed JSON body with a 400 problem, not a 500', async () => {
    const res = await request(createApp({ knex, eventStore, logger: silentLogger(), readPositions }))
      .post('/anything')
      .set('content-type', 'application/json')
      .send('{"name": ')
      .expect(400);
    expect(res.type).to.equal('application/problem+json');
    expect(res.body).to.include({ status: 400, type: '/problems/malformed-request' });
    expect(res.body.errors.map((error: { field: string }) => error.field)).to.deep.equal(['(body)']);
  });

  it('names the header to fix when a body cannot be decoded or its encoding is not supported', async () => {
    const app = createApp({ knex, eventStore, logger: silentLogger(), readPositions });
    for (const [encoding, status] of [['gzip', 400], ['br', 400], ['compress', 415]] as const) {
      const res = await request(app).post('/anything').set({ 'content-type': 'application/json', 'content-encoding': encoding }).send('{"a":1}').expect(status);
      expect(res.type).to.equal('application/problem+json');
      expect(res.body.errors.map((error: { field: string }) => error.field), encoding).to.deep.equal(['Content-Encoding']);
    }
  });
});
