import { expect } from 'chai';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getDefaultAutoSelectFamily, setDefaultAutoSelectFamily } from 'node:net';
import { createSecureContext } from 'node:tls';
import { promisify } from 'node:util';
import {
  describeOutboundFailure,
  OutboundGuard,
  OutboundRefusedError,
  parseCidrList,
  type OutboundGuardOptions,
  type ResolvedAddress,
} from '../../src/platform/outbound-guard.js';
import { rejectionOf } from '../support/async.js';

/** A real receiver on 127.0.0.1 that records the paths it was asked for. */
async function startReceiver(): Promise<{ base: string; port: number; requested: string[]; server: Server }> {
  const requested: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requested.push(request.url ?? '');
    if (request.url === '/redirect') response.writeHead(302, { location: `${base}/target` }).end();
    else if (request.url === '/slow') return; // never answers: the caller's timeout decides
    else response.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return { base, port, requested, server };
}

/** A port on 127.0.0.1 nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function notFound(hostname: string): Error {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
}

/** A resolver from a table of names; each call takes the next answer of a name's list of answers. */
function resolver(table: Record<string, string[][]>): { resolve: (hostname: string) => Promise<ResolvedAddress[]>; calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const answers = table[hostname];
    if (!answers) throw notFound(hostname);
    const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
  };
  return { resolve, calls };
}

describe('outbound guard', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const guards: OutboundGuard[] = [];
  const guard = (options: OutboundGuardOptions = {}) => {
    const made = new OutboundGuard({ resolve: async (hostname) => { throw notFound(hostname); }, ...options });
    guards.push(made);
    return made;
  };

  before(async () => {
    receiver = await startReceiver();
  });
  beforeEach(() => {
    receiver.requested.length = 0;
  });
  afterEach(async () => {
    await Promise.all(guards.splice(0).map((made) => made.close()));
  });
  after(() => {
    receiver.server.closeAllConnections();
    receiver.server.close();
  });

  describe('refusal(), without the network', () => {
    const forbidden = [
      'http://127.0.0.1/',
      'http://localhost/',
      'http://localhost./',
      'http://LOCALHOST:8080/',
      'http://foo.localhost/',
      'http://[::1]/',
      'http://2130706433/',
      'http://127.1/',
      'http://0x7f000001/',
      'http://0177.0.0.1/',
      'http://127.0.0.1./',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:7f00:1]/',
      'http://[::127.0.0.1]/', // IPv4-compatible: ipaddr.js calls it unicast
      'http://0.0.0.0/',
      'http://0/',
      'http://[::]/',
      'http://10.0.0.1/',
      'http://172.16.0.1/',
      'http://172.31.255.255/',
      'http://192.168.1.1/',
      'http://100.64.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.100.100.200/',
      'http://[fd00:ec2::254]/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://metadata.google.internal./',
      'http://[fd00::1]/',
      'http://[fe80::1]/',
      'http://[fec0::1]/',
      'http://[ff02::1]/',
      'http://224.0.0.1/',
      'http://255.255.255.255/',
      'http://198.18.0.1/',
      'http://[64:ff9b::7f00:1]/',
      'http://[64:ff9b:1::a00:1]/',
      'http://[2002:7f00:1::]/',
      'http://[2001:db8::1]/',
      'https://user:pass@example.com/',
      'https://token@example.com/',
      'ftp://x/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
    ];
    for (const url of forbidden) {
      it(`refuses ${url}`, () => {
        expect(guard().refusal(url)).to.be.a('string');
      });
    }

    for (const url of ['http://93.184.216.34/', 'https://[2606:2800:220:1::1]/hook', 'https://example.com/hook', 'http://[64:ff9b::5db8:d822]/']) {
      it(`lets ${url} through`, () => {
        expect(guard().refusal(url)).to.equal(undefined);
      });
    }

    it('gives every spelling of an IPv4 address the verdict of its dotted form', () => {
      const spellings = (n: number) => {
        const dotted = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        const hex = n.toString(16).padStart(8, '0');
        return [dotted, String(n), `0x${hex}`, `${dotted.split('.').slice(0, 2).join('.')}.${n & 0xffff}`, `[::ffff:${dotted}]`, `[::ffff:${hex.slice(0, 4)}:${hex.slice(4)}]`, `[64:ff9b::${dotted}]`];
      };
      const judging = guard();
      fc.assert(
        fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0x7f000001, 0x0a000001, 0xa9fea9fe, 0x64400001, 0xc0a80101)), (n) => {
          const [dotted, ...others] = spellings(n).map((host) => judging.refusal(`http://${host}/`) === undefined);
          expect(others, spellings(n).join(' ')).to.deep.equal(others.map(() => dotted));
        }),
      );
    });

    it('says why in words, never repeating the credentials', () => {
      expect(guard().refusal('https://user:hunter2@example.com/')).to.equal('credentials in the URL are not allowed');
      expect(guard().refusal('http://[::ffff:10.0.0.1]/')).to.equal('the host is a private address');
      expect(guard().refusal('http://169.254.169.254/')).to.equal('the host is a cloud metadata service');
    });

    it('lets an allowlisted network through, also in its IPv4-mapped form, and nothing beside it', () => {
      const allowing = guard({ allowPrivate: ['127.0.0.1/32', 'fd00::/8'] });
      expect(allowing.refusal('http://127.0.0.1:8080/')).to.equal(undefined);
      expect(allowing.refusal('http://[::ffff:127.0.0.1]/')).to.equal(undefined);
      expect(allowing.refusal('http://[fd00::1]/')).to.equal(undefined);
      expect(allowing.refusal('http://127.0.0.2/')).to.equal('the host is a loopback address');
      expect(allowing.refusal('http://[::1]/')).to.be.a('string');
      expect(allowing.refusal('http://localhost/'), 'judged by what it resolves to').to.equal(undefined);
      expect(guard({ allowPrivate: ['10.0.0.0/8'] }).refusal('http://localhost/')).to.equal('the host is a loopback address');
    });

    it('never lets a metadata service through, whatever the allowlist', () => {
      const allowing = guard({ allowPrivate: ['169.254.0.0/16', '100.64.0.0/10', 'fd00::/8'] });
      expect(allowing.refusal('http://169.254.169.254/')).to.equal('the host is a cloud metadata service');
      expect(allowing.refusal('http://100.100.100.200/')).to.equal('the host is a cloud metadata service');
      expect(allowing.refusal('http://[fd00:ec2::254]/')).to.equal('the host is a cloud metadata service');
      expect(allowing.refusal('http://169.254.1.1/')).to.equal(undefined);
    });
  });

  describe('parseCidrList()', () => {
    it('reads CIDRs and single addresses, blanks dropped, IPv4-mapped CIDRs as IPv4', () => {
      expect(parseCidrList(' 127.0.0.1/32, ,10.0.0.0/8,fd00::/8, 192.168.1.10, ::ffff:10.0.0.0/104')).to.deep.equal([
        '127.0.0.1/32',
        '10.0.0.0/8',
        'fd00::/8',
        '192.168.1.10/32',
        '10.0.0.0/8',
      ]);
      expect(parseCidrList('')).to.deep.equal([]);
    });

    for (const bad of ['10.0.0.0/33', '127.1/32', '2130706433', 'localhost', 'fd00::/129', 'fe80::1%eth0/64', '10.0.0.0/8/8', '10.0.0.0/']) {
      it(`refuses ${JSON.stringify(bad)}, naming it`, () => {
        expect(() => parseCidrList(bad)).to.throw(Error, bad);
      });
    }
  });

  describe('vet(), at creation time', () => {
    it('refuses a name that resolves to a forbidden address, without saying which', async () => {
      const { resolve } = resolver({ 'internal.test': [['10.1.2.3']], 'mixed.test': [['93.184.216.34', '127.0.0.1']] });
      const vetting = guard({ resolve });
      expect(await vetting.vet('https://internal.test/hook')).to.equal('the host name resolves to an address that may not be reached');
      expect(await vetting.vet('https://mixed.test/hook'), 'any forbidden address').to.be.a('string');
    });

    it('passes a public name, and a name that does not resolve yet (fetch checks again)', async () => {
      const { resolve } = resolver({ 'public.test': [['93.184.216.34', '2606:2800:220:1::1']] });
      expect(await guard({ resolve }).vet('https://public.test/hook')).to.equal(undefined);
      expect(await guard({ resolve }).vet('https://later.test/hook')).to.equal(undefined);
    });

    it('refuses what refusal() refuses, before resolving', async () => {
      const { resolve, calls } = resolver({});
      expect(await guard({ resolve }).vet('http://localhost/')).to.equal('the host is a loopback address');
      expect(await guard({ resolve }).vet('http://10.0.0.1/')).to.equal('the host is a private address');
      expect(calls).to.deep.equal([]);
    });

    it('lets localhost through only when all its addresses are allowlisted', async () => {
      const { resolve } = resolver({ localhost: [['127.0.0.1', '::1']] });
      expect(await guard({ resolve, allowPrivate: ['127.0.0.1/32'] }).vet('http://localhost/')).to.be.a('string');
      expect(await guard({ resolve, allowPrivate: ['127.0.0.0/8', '::1/128'] }).vet('http://localhost/')).to.equal(undefined);
    });
  });

  describe('fetch()', () => {
    it('refuses a forbidden literal before connecting', async () => {
      const error = await rejectionOf(guard().fetch(`${receiver.base}/hook`));
      expect(error).to.be.instanceOf(OutboundRefusedError);
      expect((error as Error).message).to.equal('refused by the outbound guard: the host is a loopback address');
      expect(receiver.requested).to.deep.equal([]);
    });

    it('reaches an allowlisted receiver; the address beside it stays refused', async () => {
      const allowing = guard({ allowPrivate: ['127.0.0.1/32'] });
      const response = await allowing.fetch(`${receiver.base}/hook`, { method: 'POST', body: '{}' });
      expect(response.status).to.equal(200);
      expect(await response.text()).to.equal('ok');
      expect(await rejectionOf(allowing.fetch(`http://127.0.0.2:${receiver.port}/hook`))).to.be.instanceOf(OutboundRefusedError);
      expect(receiver.requested).to.deep.equal(['/hook']);
    });

    it('refuses at connection time a name that resolves to a forbidden address, unless allowlisted', async () => {
      const url = `http://receiver.test:${receiver.port}/hook`;
      const { resolve, calls } = resolver({ 'receiver.test': [['127.0.0.1']] });
      expect(guard({ resolve }).refusal(url), 'a name passes the offline check').to.equal(undefined);
      const error = await rejectionOf(guard({ resolve }).fetch(url));
      expect(error).to.be.instanceOf(OutboundRefusedError);
      expect(calls, 'refused by the connect lookup').to.deep.equal(['receiver.test']);
      expect(receiver.requested).to.deep.equal([]);

      const response = await guard({ resolve, allowPrivate: ['127.0.0.1/32'] }).fetch(url);
      expect(response.status).to.equal(200);
      expect(receiver.requested).to.deep.equal(['/hook']);
    });

    it('is not fooled by DNS rebinding: public when vetted, loopback when connecting', async () => {
      const url = `http://rebind.test:${receiver.port}/hook`;
      const { resolve, calls } = resolver({ 'rebind.test': [['93.184.216.34'], ['127.0.0.1']] });
      const rebinding = guard({ resolve });
      expect(await rebinding.vet(url)).to.equal(undefined);
      expect(await rejectionOf(rebinding.fetch(url))).to.be.instanceOf(OutboundRefusedError);
      expect(calls).to.deep.equal(['rebind.test', 'rebind.test']);
      expect(receiver.requested).to.deep.equal([]);
    });

    it("answers node's single-address lookup too (without happy eyeballs)", async () => {
      const before = getDefaultAutoSelectFamily();
      setDefaultAutoSelectFamily(false);
      try {
        const { resolve } = resolver({ 'receiver.test': [['127.0.0.1']] });
        const url = `http://receiver.test:${receiver.port}/single`;
        expect(await rejectionOf(guard({ resolve }).fetch(url))).to.be.instanceOf(OutboundRefusedError);
        expect((await guard({ resolve, allowPrivate: ['127.0.0.1/32'] }).fetch(url)).status).to.equal(200);
        expect(receiver.requested).to.deep.equal(['/single']);
      } finally {
        setDefaultAutoSelectFamily(before);
      }
    });

    it('never follows a redirect: the 302 comes back and its target is never asked', async () => {
      const allowing = guard({ allowPrivate: ['127.0.0.1/32'] });
      // A caller asking to follow is overruled (the type forbids it; JavaScript callers may still try).
      const response = await allowing.fetch(`${receiver.base}/redirect`, { redirect: 'follow' } as object);
      expect(response.status).to.equal(302);
      expect(response.headers.get('location')).to.equal(`${receiver.base}/target`);
      expect(receiver.requested).to.deep.equal(['/redirect']);
    });

    it('ignores HTTP(S)_PROXY: the guard connects itself', async () => {
      const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy };
      process.env.HTTP_PROXY = process.env.http_proxy = `http://127.0.0.1:${await closedPort()}`;
      try {
        expect((await guard({ allowPrivate: ['127.0.0.1/32'] }).fetch(`${receiver.base}/direct`)).status).to.equal(200);
      } finally {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
      }
    });

    describe('over TLS', () => {
      let server: HttpsServer;
      const servernames: string[] = [];

      before(async function () {
        // A self-signed certificate for receiver.test, made for this run by the openssl command.
        const made = await promisify(execFile)('openssl', [
          'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
          '-subj', '/CN=receiver.test', '-addext', 'subjectAltName=DNS:receiver.test', '-keyout', '-', '-out', '-',
        ]).catch(() => undefined);
        if (!made) return this.skip();
        const context = createSecureContext({ key: made.stdout, cert: made.stdout });
        server = createTlsServer({ key: made.stdout, cert: made.stdout, SNICallback: (name, done) => { servernames.push(name); done(null, context); } }, (_, response) => response.end('ok'));
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
      });
      after(() => server?.close());

      it('sends the host name as TLS server name, and says the handshake failed in safe words', async () => {
        const { port } = server.address() as AddressInfo;
        const { resolve } = resolver({ 'receiver.test': [['127.0.0.1']] });
        const error = await rejectionOf(guard({ resolve, allowPrivate: ['127.0.0.1/32'] }).fetch(`https://receiver.test:${port}/hook`));
        expect(servernames).to.deep.equal(['receiver.test']);
        expect(describeOutboundFailure(error, 1000)).to.match(/^TLS handshake failed \(\w+\)$/);
      });
    });
  });

  describe('describeOutboundFailure()', () => {
    function expectSafe(words: string, port: number) {
      expect(words).to.not.include('127.0.0.1').and.not.include(String(port));
    }

    it('says the connection was refused, not where', async () => {
      const port = await closedPort();
      const error = await rejectionOf(guard({ allowPrivate: ['127.0.0.1/32'] }).fetch(`http://127.0.0.1:${port}/hook`));
      expect(String((error as Error).cause), 'the raw error names the address').to.include(`127.0.0.1:${port}`);
      const words = describeOutboundFailure(error, 5000);
      expect(words).to.equal('connection refused');
      expectSafe(words, port);
    });

    it("says the caller's timeout ran out", async () => {
      const error = await rejectionOf(guard({ allowPrivate: ['127.0.0.1/32'] }).fetch(`${receiver.base}/slow`, { signal: AbortSignal.timeout(300) }));
      const words = describeOutboundFailure(error, 300);
      expect(words).to.equal('no answer within 300 ms');
      expectSafe(words, receiver.port);
    });

    it('repeats a refusal in words safe for the owner', async () => {
      const { resolve } = resolver({ 'receiver.test': [['127.0.0.1']] });
      const error = await rejectionOf(guard({ resolve }).fetch(`http://receiver.test:${receiver.port}/hook`));
      const words = describeOutboundFailure(error, 5000);
      expect(words).to.equal('refused by the outbound guard: the host name resolves to an address that may not be reached');
      expectSafe(words, receiver.port);
    });

    it('says a name was not found', async () => {
      const error = await rejectionOf(guard().fetch(`http://nowhere.test:${receiver.port}/hook`));
      const words = describeOutboundFailure(error, 5000);
      expect(words).to.equal('name not found');
      expectSafe(words, receiver.port);
    });

    it('falls back to generic words for anything else', () => {
      expect(describeOutboundFailure(new Error('connect EWHATEVER 10.0.0.7:6379'), 5000)).to.equal('request failed');
      expect(describeOutboundFailure('a string', 5000)).to.equal('request failed');
    });
  });
});
