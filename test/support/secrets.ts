import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../src/platform/config.js';
import { packageRoot } from '../../src/platform/package-info.js';
import { parseKeyring } from '../../src/platform/secret-keyring.js';
import { OutboundGuard } from '../../src/platform/outbound-guard.js';
import { openSecretBox } from '../../src/platform/secret-box.js';

/**
 * The secret box a dealstream process started by a test opens too (its key file, made on first use),
 * so that secrets sealed in the test process open in a child process and the other way round.
 */
const config = loadConfig({});
export const testSecretBox = await openSecretBox(config);
/** Its keys, to build a rotated keyring from (a new key first, these after). */
export const testKeyring = parseKeyring(await readFile(path.resolve(packageRoot() ?? process.cwd(), config.SECRETS_KEY_FILE), 'utf8'));

/** Tests' receivers listen on 127.0.0.1: allowlisted, as an on-premises install allowlists its own. */
export const TEST_ALLOW_PRIVATE = '127.0.0.1/32';
export const testOutbound = new OutboundGuard({ allowPrivate: [TEST_ALLOW_PRIVATE] });
