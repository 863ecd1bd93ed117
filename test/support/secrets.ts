import { loadConfig } from '../../src/platform/config.js';
import { openSecretBox } from '../../src/platform/secret-box.js';

/**
 * The secret box a dealstream process started by a test opens too (its key file, made on first use),
 * so that secrets sealed in the test process open in a child process and the other way round.
 */
export const testSecretBox = await openSecretBox(loadConfig({}));
