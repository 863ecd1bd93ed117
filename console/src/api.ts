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

export interface Me {
  id: string;
  kind: string;
  name: string;
  roles: string[];
  credential: { type: 'api_key'; keyId: string } | { type: 'token'; issuer: string };
}

export interface Approval {
  by: string;
  at: string;
  note: string | null;
}

export interface QueueItem {
  id: string;
  dealId: string;
  kind: string;
  title: string;
  status: string;
  risk: 'low' | 'medium' | 'high' | 'critical';
  approvals: { required: number; given: Approval[] };
  proposedBy: { kind: string; id: string };
  proposedAt: string;
  expiresAt: string | null;
  payload: Record<string, unknown>;
  riskReasons: string[];
  canApprove: boolean;
}

export interface CommandResult {
  revision: string;
  position?: string;
}

async function call<T>(path: string, init: RequestInit = {}, key: string | null = credential.get()): Promise<T> {
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

const withPosition = (path: string, position?: string) => (position ? `${path}${path.includes('?') ? '&' : '?'}position=${encodeURIComponent(position)}` : path);

export const api = {
  /** Who holds this credential (before it is kept). */
  me: (key?: string) => call<Me>('/api/me', {}, key ?? credential.get()),
  /** Pending approvals, read at least up to `position` (a command's) when given. */
  approvalQueue: (position?: string) => call<{ items: QueueItem[] }>(withPosition('/api/hitl/approval-queue?limit=100', position)),
  /** `idempotencyKey`: one per intent, so that a repeated click does nothing twice. */
  approve: (id: string, note: string, idempotencyKey: string) =>
    call<CommandResult>(`/api/actions/${encodeURIComponent(id)}/approve`, {
      method: 'POST',
      headers: { 'Idempotency-Key': idempotencyKey },
      body: JSON.stringify(note.trim() ? { note: note.trim() } : {}),
    }),
  reject: (id: string, reason: string, idempotencyKey: string) =>
    call<CommandResult>(`/api/actions/${encodeURIComponent(id)}/reject`, {
      method: 'POST',
      headers: { 'Idempotency-Key': idempotencyKey },
      body: JSON.stringify({ reason: reason.trim() }),
    }),
};

export const problemText = (error: unknown): string => (error instanceof ApiProblem ? error.detail : error instanceof Error ? error.message : String(error));
