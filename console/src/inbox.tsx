import { Fragment } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiProblem, api, credential, problemText, type Me, type QueueItem } from './api.js';
import { Link } from './link.js';
import { href } from './router.js';

const APPROVER_ROLES = ['admin', 'approver'];

const READY_MARK = 'dealstream:inbox-ready';

/**
 * Opened on the inbox with a credential kept in the tab, the queue is asked for while the console
 * still asks who is signed in: the first page is usable one round trip sooner. Used once.
 */
let earlyRead: Promise<{ items: QueueItem[] }> | null = credential.get() && /^\/console\/inbox\/?$/.test(location.pathname) ? api.approvalQueue() : null;
earlyRead?.catch(() => undefined); // a refusal is met again by the read that replaces it
function takeEarlyRead(position?: string | null) {
  const early = position ? null : earlyRead;
  earlyRead = null;
  return early?.catch(() => api.approvalQueue());
}

/** Soonest deadline first; an item without one last. */
const byDeadline = (a: QueueItem, b: QueueItem) => (a.expiresAt ?? '9999').localeCompare(b.expiresAt ?? '9999') || a.proposedAt.localeCompare(b.proposedAt);

const money = (amount: { amount: string; currency: string }) =>
  new Intl.NumberFormat(undefined, { style: 'currency', currency: amount.currency, maximumFractionDigits: 2 }).format(Number(amount.amount));

const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Time left until `until`, ticking on a local clock (no request): seconds within the last hour. */
function Countdown(props: { until: string }) {
  const deadline = Date.parse(props.until);
  const [now, setNow] = useState(Date.now());
  const left = deadline - now;
  const tick = left < 3_600_000 ? 1000 : 30_000;
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), tick);
    return () => clearInterval(timer);
  }, [tick]);
  return (
    <span class={left <= 0 ? 'overdue' : left < 3_600_000 ? 'soon' : undefined}>
      {left <= 0 ? 'overdue' : `in ${duration(left)}`} <time dateTime={props.until}>({when(props.until)})</time>
    </span>
  );
}

function duration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const [d, h, m, s] = [Math.floor(seconds / 86_400), Math.floor(seconds / 3600) % 24, Math.floor(seconds / 60) % 60, seconds % 60];
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${String(s).padStart(2, '0')} s`;
}

/** Why the caller may not approve an item, in words (the API's canApprove says whether). */
function whyNot(item: QueueItem, me: Me): string {
  if (item.proposedBy.id === me.id) return 'You proposed this action: nobody approves their own proposal.';
  if (item.approvals.given.some((approval) => approval.by === me.id)) return 'You have approved this action already; it waits for another approver.';
  if (!me.roles.some((role) => APPROVER_ROLES.includes(role))) return 'Your roles do not include approver.';
  return 'You may not approve this action.';
}

export function Inbox(props: { me: Me }) {
  const [items, setItems] = useState<QueueItem[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string>('');

  /** Reads the queue, at least up to `position` (a command's): each item carries its payload. */
  const load = useCallback(async (position?: string | null) => {
    try {
      const queue = await (takeEarlyRead(position) ?? api.approvalQueue(position));
      setItems([...queue.items].sort(byDeadline));
      // The first page is usable from here on: `npm run bench` (BENCH=console) reads this mark.
      if (performance.getEntriesByName(READY_MARK).length === 0) requestAnimationFrame(() => performance.mark(READY_MARK));
      setError(null);
    } catch (e) {
      setError(problemText(e));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const done = async (message: string, position?: string | null) => {
    await load(position);
    setStatus(message);
  };

  return (
    <section aria-labelledby="inbox-heading">
      <h1 id="inbox-heading">Approval inbox</h1>
      <p class="hint">Pending approvals, soonest deadline first.</p>
      <button type="button" onClick={() => void load()}>
        Refresh
      </button>
      <p role="status" class="status">
        {status}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items === null && !error && <p>Loading…</p>}
      {items?.length === 0 && <p>Nothing awaits approval.</p>}
      {items && items.length > 0 && (
        <ul class="inbox" aria-label="Pending approvals">
          {items.map((item) => (
            <li key={item.id}>
              <Item item={item} me={props.me} onDone={done} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Item(props: { item: QueueItem; me: Me; onDone: (message: string, position?: string | null) => Promise<void> }) {
  const { item, me } = props;
  const headingId = `action-${item.id}`;
  const given = item.approvals.given.length;
  const mayDecide = me.roles.some((role) => APPROVER_ROLES.includes(role));
  return (
    <article class={`item risk-${item.risk}`} aria-labelledby={headingId}>
      <h2 id={headingId}>{item.title}</h2>
      <dl class="facts">
        <dt>Risk</dt>
        <dd>
          <span class="risk">{item.risk}</span>
          {item.riskReasons.length > 0 && <span class="reasons"> ({item.riskReasons.join('; ')})</span>}
        </dd>
        <dt>Deal</dt>
        <dd>
          {item.deal ? (
            <Link href={href(`/deals/${item.dealId}`)}>
              {item.deal.name} ({item.deal.company})
            </Link>
          ) : (
            <code>{item.dealId}</code>
          )}
        </dd>
        {item.deal && (
          <>
            <dt>Amount</dt>
            <dd class="amount">{money(item.deal.amount)}</dd>
            <dt>Stage</dt>
            <dd>{item.deal.stage}</dd>
          </>
        )}
        <dt>Kind</dt>
        <dd>{item.kind}</dd>
        <dt>Proposed by</dt>
        <dd>
          {item.proposerName ?? item.proposedBy.id} ({item.proposedBy.kind}), {when(item.proposedAt)}
        </dd>
        <dt>Deadline</dt>
        <dd>{item.expiresAt ? <Countdown until={item.expiresAt} /> : 'none'}</dd>
        <dt>Approvals</dt>
        <dd>
          <span class="approvals">
            {given} of {item.approvals.required} given
          </span>
          {given > 0 && (
            <ul>
              {item.approvals.given.map((approval) => (
                <li key={approval.by}>
                  {approval.by}, {when(approval.at)}
                  {approval.note ? `: “${approval.note}”` : ''}
                </li>
              ))}
            </ul>
          )}
        </dd>
      </dl>
      <h3>What it will do</h3>
      <Payload value={item.payload} />
      {item.canApprove ? (
        <Decide item={item} onDone={props.onDone} />
      ) : (
        <>
          <p class="cannot">{whyNot(item, me)}</p>
          {mayDecide && item.proposedBy.id !== me.id && <Decide item={item} onDone={props.onDone} rejectOnly />}
        </>
      )}
    </article>
  );
}

/** A payload as a list of its fields; nested values as lists too, long text kept whole. */
function Payload(props: { value: unknown }) {
  const { value } = props;
  if (Array.isArray(value)) {
    return value.length === 0 ? (
      <span>(none)</span>
    ) : (
      <ul class="payload-list">
        {value.map((entry, index) => (
          <li key={index}>
            <Payload value={entry} />
          </li>
        ))}
      </ul>
    );
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return <span>(nothing)</span>;
    return (
      <dl class="payload">
        {entries.map(([key, entry]) => (
          <Fragment key={key}>
            <dt>{humanize(key)}</dt>
            <dd>
              <Payload value={entry} />
            </dd>
          </Fragment>
        ))}
      </dl>
    );
  }
  return <span class="value">{value === null ? '(none)' : String(value)}</span>;
}

const humanize = (key: string) => key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

/**
 * Approve with a note, reject with a reason. Each intent carries one Idempotency-Key: a second
 * click (or a retry after a lost answer) sends the same key and the server does nothing twice; a
 * changed note or reason is a new intent with a new key.
 */
function Decide(props: { item: QueueItem; onDone: (message: string, position?: string | null) => Promise<void>; rejectOnly?: boolean }) {
  const { item } = props;
  const [note, setNote] = useState('');
  const [reason, setReason] = useState('');
  const [approveKey, setApproveKey] = useState(() => crypto.randomUUID());
  const [rejectKey, setRejectKey] = useState(() => crypto.randomUUID());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const noteId = `note-${item.id}`;
  const reasonId = `reason-${item.id}`;
  const errorId = `error-${item.id}`;

  const renewKeys = () => {
    setApproveKey(crypto.randomUUID());
    setRejectKey(crypto.randomUUID());
  };

  const run = async (command: () => Promise<{ position?: string | null }>, message: string) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const result = await command();
      // Done: whatever is typed next is a new intent, with new keys.
      setNote('');
      setReason('');
      renewKeys();
      await props.onDone(message, result.position);
    } catch (e) {
      if (e instanceof ApiProblem && e.status === 412) {
        // Someone changed the action since this page read it: nothing was done. Show what it is now.
        const changed = `“${item.title}” changed while you were looking, so nothing was done. It has been reloaded: check it and decide again.`;
        renewKeys();
        setError(changed);
        await props.onDone(changed);
      } else setError(problemText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="decide">
      {!props.rejectOnly && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(() => api.approve(item.id, note, { key: approveKey, revision: item.revision }), `Approved “${item.title}”.`);
          }}
        >
          <label for={noteId}>Note (optional)</label>
          <textarea
            id={noteId}
            rows={2}
            value={note}
            onInput={(e) => {
              setNote(e.currentTarget.value);
              setApproveKey(crypto.randomUUID());
            }}
          />
          <button type="submit" class="approve" disabled={busy} aria-describedby={error ? errorId : undefined}>
            Approve “{item.title}”
          </button>
        </form>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(() => api.reject(item.id, reason, { key: rejectKey, revision: item.revision }), `Rejected “${item.title}”.`);
        }}
      >
        <label for={reasonId}>Reason for rejecting</label>
        <textarea
          id={reasonId}
          rows={2}
          value={reason}
          onInput={(e) => {
            setReason(e.currentTarget.value);
            setRejectKey(crypto.randomUUID());
          }}
        />
        <button type="submit" class="reject" disabled={busy} aria-describedby={error ? errorId : undefined}>
          Reject “{item.title}”
        </button>
      </form>
      {error && (
        <p id={errorId} class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
