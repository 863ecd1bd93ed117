import { loadConfig } from '../../src/platform/config.js';
import { OutboundGuard } from '../../src/platform/outbound-guard.js';
import { openSecretBox } from '../../src/platform/secret-box.js';

/**
 * The secret box a dealstream process started by a test opens too (its key file, made on first use),
 * so that secrets sealed in the test process open in a child process and the other way round.
 */
export const testSecretBox = await openSecretBox(loadConfig({}));

/** Tests' receivers listen on 127.0.0.1: allowlisted, as an on-premises install allowlists its own. */
export const TEST_ALLOW_PRIVATE = '127.0.0.1/32';
export const testOutbound = new OutboundGuard({ allowPrivate: [TEST_ALLOW_PRIVATE] });
