import type { components, operations } from '../../clients/typescript/src/schema.js';

/** The console talks to dealstream's /api on its own origin, with the credential kept in this tab. */

const STORAGE_KEY = 'dealstream.credential';

export const credential = {
  get: (): string | null => sessionStorage.getItem(STORAGE_KEY),
  set: (value: string): void => sessionStorage.setItem(STORAGE_KEY, value),
  clear: (): void => sessionStorage.removeItem(STORAGE_KEY),
};

/** A refusal from the API: its problem+json, whose `detail` the page shows. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** The API's shapes, from the generated client (types only: nothing of it ships in the bundle). */
export type Schemas = components['schemas'];
/** The JSON an operation answers with on success, e.g. `Answer<'getMe'>`. */
export type Answer<Op extends keyof operations> = operations[Op]['responses'] extends { 200: { content: { 'application/json': infer T } } } ? T : never;
export type Me = Answer<'getMe'>;
export type QueueItem = Schemas['ApprovalQueueItem'];
export type CommandResult = Schemas['CommandResult'];

/** One request to the API on this origin with the signed-in credential; a refusal throws ApiProblem. */
export async function call<T>(path: string, init: RequestInit = {}, key: string | null = credential.get()): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json, application/problem+json');
  if (key) headers.set('Authorization', `Bearer ${key}`);
  if (init.body) headers.set('Content-Type', 'application/json');
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers, credentials: 'omit' });
  } catch {
    throw new ApiProblem(0, undefined, 'dealstream cannot be reached: is it running?');
  }
  const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!response.ok) {
    const detail = typeof body?.detail === 'string' ? body.detail : `${response.status} ${response.statusText}`;
    throw new ApiProblem(response.status, typeof body?.code === 'string' ? body.code : undefined, detail);
  }
  return body as T;
}

/** Adds `?position=` (a command's or a change's): the read waits until the read models have passed it. */
export const withPosition = (path: string, position?: string | null) => (position ? `${path}${path.includes('?') ? '&' : '?'}position=${encodeURIComponent(position)}` : path);

/** One person's intent to change what they saw: its Idempotency-Key and the revision they saw. */
export interface Intent {
  key: string;
  revision: string;
}
export const intentHeaders = (intent: Intent): Record<string, string> => ({ 'Idempotency-Key': intent.key, 'If-Match': `"${intent.revision}"` });

export const api = {
  /** Who holds this credential (before it is kept). */
  me: (key?: string) => call<Me>('/api/me', {}, key ?? credential.get()),
  /** Pending approvals, read at least up to `position` (a command's) when given. */
  approvalQueue: (position?: string | null) => call<{ items: QueueItem[] }>(withPosition('/api/hitl/approval-queue?limit=100', position)),
  /**
   * `intent.key`: one Idempotency-Key per intent, so that a repeated click does nothing twice;
   * `intent.revision`: the revision the person saw, as If-Match, so that a decision on what has
   * changed meanwhile is refused (412) rather than taken.
   */
  approve: (id: string, note: string, intent: Intent) =>
    call<CommandResult>(`/api/actions/${encodeURIComponent(id)}/approve`, { method: 'POST', headers: intentHeaders(intent), body: JSON.stringify(note.trim() ? { note: note.trim() } : {}) }),
  reject: (id: string, reason: string, intent: Intent) =>
    call<CommandResult>(`/api/actions/${encodeURIComponent(id)}/reject`, { method: 'POST', headers: intentHeaders(intent), body: JSON.stringify({ reason: reason.trim() }) }),
};

export const problemText = (error: unknown): string => (error instanceof ApiProblem ? error.detail : error instanceof Error ? error.message : String(error));
