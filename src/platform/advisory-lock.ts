import pg from 'pg';

/** A session-level PostgreSQL advisory lock, held on its own connection for as long as it lives. */
export interface HeldLock {
  /** Aborted when the lock's connection is lost: another process may hold the lock by then. */
  lost: AbortSignal;
  release(): Promise<void>;
}

/**
 * Waits for the lock (a standby waits here), and holds it until released or until its connection
 * ends, which frees it for the next waiter at once. Aborting `signal` stops the wait at once, even
 * while the connection is still being made (ending a client that is connecting may never settle).
 */
export async function acquireLock(connectionString: string, key: string, signal: AbortSignal): Promise<HeldLock | undefined> {
  if (signal.aborted) return undefined;
  const client = new pg.Client({ connectionString, application_name: `dealstream-lock ${key} pid=${process.pid}` });
  const lost = new AbortController();
  client.on('error', () => lost.abort());
  client.on('end', () => lost.abort());
  const end = () => void client.end().catch(() => undefined);
  const locking = (async () => {
    await client.connect();
    await client.query('SELECT pg_advisory_lock(4242, hashtext($1))', [key]);
  })();
  let stopWaiting!: () => void;
  const aborted = new Promise<'aborted'>((resolve) => {
    stopWaiting = () => resolve('aborted');
    signal.addEventListener('abort', stopWaiting, { once: true });
  });
  try {
    const outcome = await Promise.race([locking.then(() => 'locked' as const), aborted]);
    if (outcome === 'aborted') {
      locking.catch(() => undefined);
      end();
      return undefined;
    }
  } catch (error) {
    end();
    if (signal.aborted) return undefined;
    throw error;
  } finally {
    signal.removeEventListener('abort', stopWaiting);
  }
  return { lost: lost.signal, release: () => client.end().catch(() => undefined) };
}

/**
 * SQL telling whether some process holds the lock whose key is the SQL expression `key` (a `?`
 * binding, or a column expression), in this database: advisory locks are per database.
 */
export function lockHeldSql(key: string): string {
  return `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 4242 AND objid = hashtext(${key})::oid AND objsubid = 2
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;
}
