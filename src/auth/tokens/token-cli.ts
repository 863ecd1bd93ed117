import type { Knex } from 'knex';
import type { Config } from '../../platform/config.js';
import { openSecretBox } from '../../platform/secret-box.js';
import type { Role } from '../principal.js';
import { issueToken, parseTtl } from './issue-token.js';
import { rotateSigningKey } from './signing-keys.js';

export interface IssueTokenOptions {
  sub: string;
  role: Role[];
  name?: string;
  /** `90s`, `15m`, `8h`, `30d` or seconds. */
  ttl: string;
}

/** `dealstream tokens issue`: a token for a person, signed by dealstream's active key. */
export async function issueTokenFromCli(knex: Knex, config: Config, options: IssueTokenOptions): Promise<string> {
  const ttlSeconds = parseTtl(options.ttl);
  const box = await openSecretBox(config);
  const issued = await issueToken(knex, box, { subject: options.sub, roles: options.role, ...(options.name ? { name: options.name } : {}), ttlSeconds }, config);
  return issued.token;
}

/** `dealstream tokens rotate-key`: a new signing key; the old one keeps verifying the tokens it signed. */
export async function rotateKeyFromCli(knex: Knex, config: Config): Promise<{ kid: string; retired: string[] }> {
  const { active, retired } = await rotateSigningKey(knex, await openSecretBox(config));
  return { kid: active.kid, retired };
}
