import createFetchClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, operations, paths } from './schema.js';
/** The shared shapes (Problem, Created, CommandResult, Money, ...) by name. */
export type Schemas = components['schemas'];
/** What every refusal and failure answers (application/problem+json): branch on `code`. */
export type Problem = Schemas['Problem'];

export interface DealstreamClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where dealstream answers, e.g. `https://dealstream.example.com` (the paths start with /api). */
  baseUrl: string;
  /**
   * An API key or a person's token, sent as `Authorization: Bearer <credential>`; a function is
   * asked before each request (a token renewed as it expires).
   */
  credential: string | (() => string | Promise<string>);
}

export type DealstreamClient = Client<paths>;

/**
 * A typed client of the dealstream API (openapi-fetch over the generated `paths`): each method
 * takes a path as the description writes it and answers `{ data, error, response }`, `data` typed
 * by the success answer and `error` by the problem answers.
 *
 * ```ts
 * const api = createDealstreamClient({ baseUrl, credential: process.env.DEALSTREAM_KEY! });
 * const { data, error } = await api.POST('/api/deals', { body: { name, company, amount: { amount: '25000000', currency: 'USD' } } });
 * ```
 */
export function createDealstreamClient({ baseUrl, credential, ...options }: DealstreamClientOptions): DealstreamClient {
  const client = createFetchClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, ''), ...options });
  client.use({
    async onRequest({ request }) {
      request.headers.set('Authorization', `Bearer ${typeof credential === 'function' ? await credential() : credential}`);
      return request;
    },
  });
  return client;
}
