import { expect } from 'chai';
import winston from 'winston';
import Transport from 'winston-transport';
import { OutageLog, type OutageLogOptions } from '../../src/platform/outage-log.js';
import { eventually } from '../support/async.js';

type Line = Record<string, unknown> & { level: string; message: string };

function capturing(): { logger: winston.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = winston.createLogger({
    level: 'debug',
    transports: [
      new (class extends Transport {
        override log(info: Line, done: () => void) {
          lines.push({ ...info });
          done();
        }
      })(),
    ],
  });
  return { logger, lines };
}

describe('OutageLog', () => {
  let now: number;
  const options = (extra: Partial<OutageLogOptions> = {}): OutageLogOptions => ({
    down: 'db unreachable',
    back: 'db is back',
    counting: 'refused',
    intervalMs: 10_000,
    clock: () => now,
    ...extra,
  });
  beforeEach(() => (now = 1_000_000));

  it('says an outage once when it starts, then once per interval with what failed meanwhile, and once when it is over', () => {
    const { logger, lines } = capturing();
    const outage = new OutageLog(logger, options({ meta: { role: 'api' } }));
    outage.failed(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    for (let i = 0; i < 500; i++) {
      now += 10;
      outage.failed(new Error('Connection terminated unexpectedly'));
    }
    // 5 s in: nothing more yet.
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 'warn', message: 'db unreachable', error: 'connect ECONNREFUSED 127.0.0.1:5432', role: 'api' });
    now += 5000;
    outage.failed(new Error('Connection terminated unexpectedly'));
    expect(lines).to.have.length(2);
    expect(lines[1]).to.include({ level: 'warn', message: 'db unreachable', refused: 501, downForMs: 10_000, role: 'api' });
    now += 2500;
    outage.recovered();
    outage.recovered();
    expect(lines).to.have.length(3);
    expect(lines[2]).to.include({ level: 'info', message: 'db is back', refused: 502, downForMs: 12_500 });
    expect(outage.down).to.equal(false);
  });

  it('says nothing when nothing failed, and starts afresh after an outage', () => {
    const { logger, lines } = capturing();
    const outage = new OutageLog(logger, options());
    outage.recovered();
    expect(lines).to.deep.equal([]);
    outage.failed(new Error('one'));
    outage.recovered();
    outage.failed(new Error('two'));
    expect(lines.map((line) => [line.message, line.error])).to.deep.equal([
      ['db unreachable', 'one'],
      ['db is back', undefined],
      ['db unreachable', 'two'],
    ]);
  });

  it('leaves the word that it is back to its owner when given none', () => {
    const { logger, lines } = capturing();
    const outage = new OutageLog(logger, options({ back: undefined }));
    outage.failed(new Error('down'));
    outage.recovered();
    expect(lines).to.have.length(1);
    expect(outage.down).to.equal(false);
  });

  it('keeps the end of a long message, where knex puts the reason after the SQL', () => {
    const { logger, lines } = capturing();
    new OutageLog(logger, options()).failed(new Error(`select ${'x, '.repeat(200)}y from t - terminating connection due to administrator command`));
    expect(lines[0]!.error).to.match(/^….* - terminating connection due to administrator command$/).and.have.length(201);
  });

  it('asks a probe whether it is back while it is down, and stops asking once it is', async () => {
    const { logger, lines } = capturing();
    let answers = 0;
    let up = false;
    const outage = new OutageLog(logger, options({ clock: Date.now, probeEveryMs: 5, probe: async () => {
      answers++;
      if (!up) throw new Error('still down');
    } }));
    outage.failed(new Error('down'));
    await eventually(() => answers >= 3, 5000, 'a few probes');
    expect(outage.down).to.equal(true);
    up = true;
    await eventually(() => !outage.down, 5000, 'the probe to find it back');
    expect(lines.map((line) => line.message)).to.deep.equal(['db unreachable', 'db is back']);
    const asked = answers;
    await new Promise((resolve) => setTimeout(resolve, 50)); // ten probes' time: none comes
    expect(answers, 'no probe once back').to.equal(asked);
  });

  it('stops probing when its signal aborts', async () => {
    const { logger } = capturing();
    const stop = new AbortController();
    let answers = 0;
    const outage = new OutageLog(logger, options({ probeEveryMs: 5, signal: stop.signal, probe: () => Promise.reject(new Error(`down ${++answers}`)) }));
    outage.failed(new Error('down'));
    await eventually(() => answers >= 2, 5000, 'a few probes');
    stop.abort();
    const asked = answers;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answers).to.be.at.most(asked + 1); // one may have been on its way
  });
});
