import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { ConfigError } from '../../src/platform/config.js';
import { SecretBox, SecretBoxError, openSecretBox } from '../../src/platform/secret-box.js';
import { parseKeyring, type SecretKey } from '../../src/platform/secret-keyring.js';
import { patient } from '../support/async.js';

const key = (id: string): SecretKey => ({ id, key: randomBytes(32) });

describe('secret box', () => {
  const first = key('k2025');
  const second = key('k2026');

  it('encrypts to a self-describing string and decrypts it back', () => {
    const box = new SecretBox([first]);
    const plaintext = 'whsec_ünïcödé ✓ secret';
    const ciphertext = box.encrypt(plaintext);
    expect(ciphertext).to.match(/^v1\.k2025\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(ciphertext).to.not.include(plaintext);
    expect(box.decrypt(ciphertext)).to.equal(plaintext);
    expect(box.encrypt(plaintext), 'a fresh IV each time').to.not.equal(ciphertext);
    expect(box.decrypt(box.encrypt(''))).to.equal('');
  });

  it('rotates: the first key encrypts, every key decrypts', () => {
    const old = new SecretBox([first]).encrypt('kept');
    const rotated = new SecretBox([second, first]);
    expect(rotated.decrypt(old)).to.equal('kept');
    const fresh = rotated.encrypt('new');
    expect(fresh.split('.')[1]).to.equal('k2026');
    expect(rotated.isStale(old)).to.equal(true);
    expect(rotated.isStale(fresh)).to.equal(false);
  });

  it('refuses a key it does not hold, naming only the key id', () => {
    const ciphertext = new SecretBox([second]).encrypt('secret');
    const error = catchError(() => new SecretBox([first]).decrypt(ciphertext));
    expect(error).to.be.instanceOf(SecretBoxError).and.include({ reason: 'unknown-key' });
    expect(error.message).to.include('k2026').and.not.include(ciphertext);
  });

  it('refuses anything changed: data, tag, IV, key id, truncated tag, or not a ciphertext', () => {
    const box = new SecretBox([first, { id: 'other', key: first.key }]);
    const parts = box.encrypt('the secret').split('.');
    const flip = (text: string) => (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
    const variants: [string, string][] = [
      [[...parts.slice(0, 4), flip(parts[4]!)].join('.'), 'tampered'],
      [[...parts.slice(0, 3), flip(parts[3]!), parts[4]].join('.'), 'tampered'],
      [[parts[0], parts[1], flip(parts[2]!), ...parts.slice(3)].join('.'), 'tampered'],
      // The same key under another id: the header is authenticated too.
      [[parts[0], 'other', ...parts.slice(2)].join('.'), 'tampered'],
      [[...parts.slice(0, 3), parts[3]!.slice(0, 8), parts[4]].join('.'), 'malformed'],
      ['v2.' + parts.slice(1).join('.'), 'malformed'],
      ['plain text', 'malformed'],
    ];
    for (const [ciphertext, reason] of variants) {
      expect(catchError(() => box.decrypt(ciphertext)), ciphertext).to.be.instanceOf(SecretBoxError).and.include({ reason });
    }
  });

  it('reads a keyring and refuses bad ones', () => {
    const encoded = randomBytes(32).toString('base64');
    expect(parseKeyring(`a:${encoded}, b-2:${encoded}`).map((k) => k.id)).to.deep.equal(['a', 'b-2']);
    expect(() => parseKeyring('')).to.throw(/at least one/);
    expect(() => parseKeyring(`a.b:${encoded}`)).to.throw(/letters, digits/);
    expect(() => parseKeyring(`a:${randomBytes(16).toString('base64')}`)).to.throw(/32 bytes/);
    expect(() => parseKeyring('a:not base64!')).to.throw(/32 bytes/);
    expect(() => parseKeyring(`a:${encoded},a:${encoded}`)).to.throw(/twice/);
  });

  describe('opened from the configuration', () => {
    let directory: string;
    beforeEach(async () => (directory = await mkdtemp(path.join(tmpdir(), 'dealstream-secrets-'))));
    afterEach(() => rm(directory, { recursive: true, force: true }));

    it('uses SECRETS_KEY when set, and writes no file', async () => {
      const box = await openSecretBox({ NODE_ENV: 'production', SECRETS_KEY: [first], SECRETS_KEY_FILE: 'secrets.key' }, directory);
      expect(box.currentKeyId).to.equal('k2025');
      expect(await exists(path.join(directory, 'secrets.key'))).to.equal(false);
    });

    it('refuses to work without SECRETS_KEY in production', async () => {
      const error = await openSecretBox({ NODE_ENV: 'production', SECRETS_KEY: undefined, SECRETS_KEY_FILE: 'secrets.key' }, directory).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as Error).message).to.match(/SECRETS_KEY is required/);
    });

    it('elsewhere makes a key file (mode 0600) on first use, and every later opening uses it', async () => {
      const config = { NODE_ENV: 'development', SECRETS_KEY: undefined, SECRETS_KEY_FILE: '.dealstream/secrets.key' } as const;
      const file = path.join(directory, '.dealstream/secrets.key');
      const ciphertext = (await openSecretBox(config, directory)).encrypt('kept');
      expect((await stat(file)).mode & 0o777).to.equal(0o600);
      expect(await readFile(file, 'utf8')).to.match(/^local-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=\n$/);
      expect((await openSecretBox(config, directory)).decrypt(ciphertext)).to.equal('kept');
    });

    it('makes one key file when many openings race', async () => {
      const config = { NODE_ENV: 'test', SECRETS_KEY: undefined, SECRETS_KEY_FILE: 'keys/secrets.key' } as const;
      const boxes = await Promise.all(Array.from({ length: 12 }, () => openSecretBox(config, directory)));
      expect(new Set(boxes.map((box) => box.currentKeyId)).size).to.equal(1);
      const ciphertext = boxes[0]!.encrypt('shared');
      for (const box of boxes) expect(box.decrypt(ciphertext)).to.equal('shared');
      const left = await readdir(path.join(directory, 'keys'));
      expect(left, 'no candidate files are left behind').to.deep.equal(['secrets.key']);
    });

    it('makes one key file when processes start at once', async function () {
      this.timeout(patient(60_000));
      const module = pathToFileURL(path.resolve('src/platform/secret-box.ts')).href;
      const script = `const { openSecretBox } = await import(${JSON.stringify(module)});
        const box = await openSecretBox({ NODE_ENV: 'development', SECRETS_KEY_FILE: 'secrets.key' }, ${JSON.stringify(directory)});
        process.stdout.write(box.currentKeyId);`;
      const ids = await Promise.all(Array.from({ length: 4 }, () => runNode(script)));
      expect(new Set(ids).size, ids.join(' ')).to.equal(1);
      expect(await readdir(directory)).to.deep.equal(['secrets.key']);
    });

    it('stops with a ConfigError naming the key file when it is not a keyring', async () => {
      await writeFile(path.join(directory, 'secrets.key'), 'garbage\n');
      const config = { NODE_ENV: 'development', SECRETS_KEY: undefined, SECRETS_KEY_FILE: 'secrets.key' } as const;
      const error = await openSecretBox(config, directory).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as Error).message).to.match(/SECRETS_KEY_FILE .*secrets\.key/);
    });
  });
});

function catchError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function runNode(script: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  return stdout;
}
