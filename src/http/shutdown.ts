import type { Application } from 'express';

const shutdowns = new WeakMap<Application, AbortController>();

function shutdownOf(app: Application): AbortController {
  let shutdown = shutdowns.get(app);
  if (!shutdown) shutdowns.set(app, (shutdown = new AbortController()));
  return shutdown;
}

/**
 * Aborted when the process stops serving: responses then close their connections, and long-lived
 * answers (the SSE feed) end at once, for their clients to reconnect elsewhere, instead of holding
 * the server open.
 */
export function shutdownSignal(app: Application): AbortSignal {
  return shutdownOf(app).signal;
}

export function beginShutdown(app: Application): void {
  shutdownOf(app).abort();
}
