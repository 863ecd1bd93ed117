import express from 'express';
import request from 'supertest';
import { apiDescription } from '../../../src/http/app.js';

/*
 * A test whose app answers something the description does not say: run by contract-check.spec.ts
 * in a mocha of its own, where the root hooks must fail it. Not a spec: the suite never runs it.
 */
describe('an app that drifted from its description', () => {
  it('answers a liveness probe with a body it does not describe', async () => {
    const app = express();
    app.locals.openApi = apiDescription();
    app.get('/health/live', (_req, res) => {
      res.json({ status: 'dead' });
    });
    await request(app).get('/health/live').expect(200);
  });

  it('answers as described', async () => {
    const app = express();
    app.locals.openApi = apiDescription();
    app.get('/health/live', (_req, res) => {
      res.json({ status: 'ok' });
    });
    await request(app).get('/health/live').expect(200);
  });
});
