import { z } from 'zod';

/**
 * Every problem dealstream answers, by its stable `code`: the status, the title and the type URI,
 * the same for every occurrence of the code. What happened this time (ids, revisions, fields) goes
 * only in `detail` (and extensions such as `errors`), so a title can never carry it.
 *
 * The domain's codes (DomainError and its subclasses) are listed here too: the domain names a
 * code and says what happened; how it is titled is the edge's business. `type` defaults to
 * `/problems/<code in kebab case>`; the ones spelled out predate the codes and stay as they were
 * (clients match on them).
 */
const CATALOG = {
  // --- Requests the API cannot take as sent
  'REQUEST.INVALID': { status: 400, title: 'Invalid request', type: '/problems/invalid-request' },
  'REQUEST.MALFORMED': { status: 400, title: 'Malformed request', type: '/problems/malformed-request' },
  'REQUEST.TOO_LARGE': { status: 413, title: 'Payload too large', type: '/problems/payload-too-large' },
  'REQUEST.UNSUPPORTED_MEDIA_TYPE': { status: 415, title: 'Unsupported media type', type: '/problems/unsupported-media-type' },
  'REQUEST.TIMEOUT': { status: 408, title: 'Request timeout', type: '/problems/request-timeout' },
  'REQUEST.HEADERS_TOO_LARGE': { status: 431, title: 'Request header fields too large', type: '/problems/request-headers-too-large' },
  'IDEMPOTENCY_KEY.INVALID': { status: 400, title: 'Invalid Idempotency-Key', type: '/problems/invalid-idempotency-key' },
  'IDEMPOTENCY_KEY.REUSED': { status: 422, title: 'Idempotency-Key reused', type: '/problems/idempotency-key-reused' },
  'IF_MATCH.INVALID': { status: 400, title: 'Invalid If-Match', type: '/problems/invalid-if-match' },
  'ROUTE.NOT_FOUND': { status: 404, title: 'Not found', type: '/problems/not-found' },
  // --- Who may call
  'AUTH.UNAUTHENTICATED': { status: 401, title: 'Authentication required', type: '/problems/unauthenticated' },
  'AUTH.FORBIDDEN': { status: 403, title: 'Forbidden', type: '/problems/forbidden' },
  CROSS_SITE_REQUEST: { status: 403, title: 'Cross-site request refused', type: '/problems/cross-site-request' },
  RATE_LIMITED: { status: 429, title: 'Too many requests', type: '/problems/rate-limited' },
  'FEED.TOO_MANY': { status: 429, title: 'Too many open feeds', type: '/problems/too-many-feeds' },
  // --- This server's trouble
  INTERNAL_ERROR: { status: 500, title: 'Internal server error', type: '/problems/internal' },
  'DATABASE.UNAVAILABLE': { status: 503, title: 'The database cannot be reached', type: '/problems/database-unavailable' },
  'EVENT_STORE.UNAVAILABLE': { status: 503, title: 'The event store cannot be reached', type: '/problems/event-store-unavailable' },
  'QUEUES.UNAVAILABLE': { status: 503, title: 'The job queues cannot be read', type: '/problems/queues-unavailable' },
  'SECRETS.UNAVAILABLE': { status: 503, title: 'Webhook secrets cannot be kept', type: '/problems/secrets-unavailable' },
  'CONSOLE.NOT_BUILT': { status: 503, title: 'The console is not built' },
  // --- Streams and the log
  'STREAM.NOT_FOUND': { status: 404, title: 'Stream not found', type: '/problems/stream-not-found' },
  'STREAM.STATE_NOT_FOUND': { status: 404, title: 'No such state in the stream', type: '/problems/state-not-found' },
  'STREAM.CONTENDED': { status: 409, title: 'The stream kept changing' },
  'STREAM.REVISION_CHANGED': { status: 412, title: 'The stream has moved past the expected revision' },
  'EVENT_TYPE.NOT_FOUND': { status: 404, title: 'Unknown event type', type: '/problems/unknown-event-type' },
  'WEBHOOK.NOT_FOUND': { status: 404, title: 'Webhook subscription not found', type: '/problems/webhook-subscription-not-found' },
  // --- Deals
  'DEAL.NOT_FOUND': { status: 404, title: 'Deal not found' },
  'DEAL.ALREADY_EXISTS': { status: 409, title: 'The deal exists already' },
  'DEAL.NOTE_EMPTY': { status: 400, title: 'A note needs text' },
  'DEAL.NOT_LOST': { status: 409, title: 'Only a lost deal can be reopened' },
  'DEAL.STAGE_UNCHANGED': { status: 409, title: 'The deal is in that stage already' },
  'DEAL.WON_ONLY_FROM_CLOSING': { status: 409, title: 'A deal is won only from the closing stage' },
  'DEAL.CLOSED': { status: 409, title: 'The deal is closed' },
  'DEAL.REASON_REQUIRED': { status: 400, title: 'A reason is required' },
  // --- Agents and their runs
  'AGENT.NOT_FOUND': { status: 404, title: 'Agent not found' },
  'AGENT.ALREADY_EXISTS': { status: 409, title: 'The agent is registered already' },
  'AGENT.BUDGET_EXHAUSTED': { status: 409, title: 'The agent has spent its budget' },
  'AGENT.RUN_NOT_FOUND': { status: 404, title: 'Run not found' },
  'AGENT.RUN_EXISTS': { status: 409, title: 'The run has started already' },
  'AGENT.RUN_FINISHED': { status: 409, title: 'The run has finished' },
  'AGENT.COST_CURRENCY': { status: 400, title: "The cost is not in the currency of the agent's budget" },
  // --- Actions
  'ACTION.NOT_FOUND': { status: 404, title: 'Action not found' },
  'ACTION.ALREADY_EXISTS': { status: 409, title: 'The action exists already' },
  'ACTION.DEAL_NOT_OPEN': { status: 409, title: 'Actions are proposed on open deals only' },
  'ACTION.NOT_AWAITING_APPROVAL': { status: 409, title: 'The action is not awaiting approval' },
  'ACTION.APPROVAL_EXPIRED': { status: 409, title: 'The approval deadline has passed' },
  'ACTION.SELF_APPROVAL': { status: 409, title: 'Nobody approves their own proposal' },
  'ACTION.ALREADY_APPROVED': { status: 409, title: 'You have approved this action already' },
  'ACTION.REASON_REQUIRED': { status: 400, title: 'A rejection needs a reason' },
  'ACTION.NOT_DUE': { status: 409, title: 'The approval has not expired yet' },
  'ACTION.CANCEL_FORBIDDEN': { status: 403, title: 'Only the proposer or an admin may cancel an action' },
  'ACTION.CANNOT_CANCEL': { status: 409, title: 'The action can no longer be cancelled' },
  'ACTION.NOT_APPROVED': { status: 409, title: 'The action is not approved' },
  'ACTION.NOT_EXECUTING': { status: 409, title: 'The action is not executing' },
  'ACTION.NOT_FAILED': { status: 409, title: 'Only a failed execution is tried again' },
  'ACTION.UNKNOWN_KIND': { status: 400, title: 'Unknown action kind' },
  'ACTION.INVALID_PAYLOAD': { status: 400, title: 'The payload does not fit its action kind' },
  'ACTION.NOT_MANUAL': { status: 409, title: 'The action is not carried out by people' },
  // --- Principals and their keys
  'PRINCIPAL.NOT_FOUND': { status: 404, title: 'Principal not found' },
  'PRINCIPAL.ALREADY_EXISTS': { status: 409, title: 'The principal exists already' },
  'PRINCIPAL.AGENT_FOR_NON_AGENT': { status: 400, title: 'Only an agent principal acts for an agent' },
  'PRINCIPAL.SELF_DEMOTION': { status: 409, title: 'Admins do not take their own admin role away' },
  'PRINCIPAL.SELF_DISABLE': { status: 409, title: 'Nobody disables themselves' },
  'PRINCIPAL.DISABLED': { status: 409, title: 'A disabled principal gets no new keys' },
  'PRINCIPAL.KEY_NOT_FOUND': { status: 404, title: 'Key not found' },
  'PRINCIPAL.KEY_EXPIRY_PAST': { status: 400, title: "A key's expiry must lie in the future" },
  'PRINCIPAL.KEY_NAME_TAKEN': { status: 409, title: 'An active key has that name already' },
} as const satisfies Record<string, { status: number; title: string; type?: string }>;

export type ProblemCode = keyof typeof CATALOG;

export interface CatalogEntry {
  code: string;
  status: number;
  title: string;
  type: string;
}

/** The catalogue, each entry with its type URI (for tests and the description). */
export const PROBLEM_CATALOG: readonly CatalogEntry[] = Object.entries(CATALOG).map(([code, entry]) => ({ code, ...entry, type: typeOf(code) }));

export const PROBLEM_CODES = Object.keys(CATALOG) as [ProblemCode, ...ProblemCode[]];

/** An RFC 9457 problem detail, as dealstream answers it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  [extension: string]: unknown;
}

/** What a problem may carry beyond the catalogue's parts and its detail (`errors`, `limit`, ...). */
export type ProblemExtensions = Record<string, unknown> & { type?: never; title?: never; status?: never; code?: never; detail?: never };

/** The problem for a catalogued code: title, status and type from the catalogue, `detail` this occurrence's. */
export function problemOf(code: ProblemCode, detail: string, extensions: ProblemExtensions = {}): Problem {
  return { ...extensions, type: typeOf(code), title: CATALOG[code].title, status: CATALOG[code].status, code, detail };
}

/**
 * The title and type of any code, the domain's included. A code the catalogue does not list yet
 * (a domain rule added since) is titled from the code itself, so that no title carries an
 * occurrence either way; test/http/problem-catalog.spec.ts asks for each code raised in src/.
 */
export function describeCode(code: string): { title: string; type: string } {
  const entry = (CATALOG as Record<string, { title: string } | undefined>)[code];
  return { title: entry?.title ?? titleFromCode(code), type: typeOf(code) };
}

function typeOf(code: string): string {
  const entry = (CATALOG as Record<string, { type?: string } | undefined>)[code];
  return entry?.type ?? `/problems/${code.toLowerCase().replace(/[._]/g, '-')}`;
}

/** `ACTION.KIND_UNKNOWN` → "Action kind unknown". */
function titleFromCode(code: string): string {
  const words = code.toLowerCase().replace(/[._]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The problem body as the OpenAPI description states it. */
export const ProblemBody = z
  .looseObject({
    type: z.string().describe('A URI reference naming the kind of problem; stable per `code`'),
    title: z.string().describe('A short summary, the same for every occurrence of `code`'),
    status: z.int().min(400).max(599),
    code: z.enum(PROBLEM_CODES).describe('What went wrong, stable: match on this'),
    detail: z.string().describe('What happened this time: the ids, revisions or fields concerned'),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional().describe('With invalid input: each field at fault'),
  })
  .describe('RFC 9457 problem details');
