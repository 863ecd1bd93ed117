import type { Exchange, FailureClass, FuzzReport } from './fuzz-run.js';
import { preview, shortString } from './fuzz-values.js';
import type { Mutation } from './mutations.js';

/** Whether the run found nothing wrong. */
export const passed = (report: FuzzReport) => report.failures.length === 0 && report.ledger.findings.length === 0 && report.healthy;

/** The summary, then each failure class with one reproduction. */
export function formatReport(report: FuzzReport): string {
  const { seed, requests, ms, byStatus, operations, ledger, healthy } = report;
  const classes = new Map<string, number>();
  for (const [status, count] of byStatus) {
    const name = status === 0 ? 'no answer' : `${Math.floor(status / 100)}xx`;
    classes.set(name, (classes.get(name) ?? 0) + count);
  }
  const statuses = [...byStatus].sort(([a], [b]) => a - b).map(([status, count]) => `${status}: ${count}`).join(', ');
  const { events, commands, commandsWithEvents, commandsWithout } = ledger.counts;
  const lines = [
    `fuzz: ${requests} requests (seed ${seed}) in ${(ms / 1000).toFixed(1)} s over ${operations.tallies.size} of ${operations.total} operations; ${report.shrinkRequests} more while shrinking`,
    `  by class: ${[...classes].map(([name, count]) => `${name} ${count}`).join(', ')}`,
    `  by status: ${statuses}`,
    `  log: ${events} events appended; ${commands} commands answered 2xx with a position, ${commandsWithEvents} with events of their own, ${commandsWithout} replays or no-ops`,
    `  never answered 2xx: ${[...operations.tallies].filter(([, tally]) => tally.succeeded === 0).map(([name, tally]) => `${name} (${tally.requests})`).join(', ') || 'none'}`,
    `  health after the run: ${healthy ? 'ok' : 'NOT ANSWERING'}`,
  ];
  if (report.failures.length > 0) lines.push('', `${report.failures.length} failure classes:`);
  for (const failure of report.failures) lines.push(...describeClass(failure, seed));
  if (ledger.findings.length > 0) lines.push('', `${ledger.findings.length} disagreements between the log and the answers:`);
  const grouped = new Map<string, typeof ledger.findings>();
  for (const finding of ledger.findings) grouped.set(`${finding.label}: ${finding.reason}`, [...(grouped.get(`${finding.label}: ${finding.reason}`) ?? []), finding]);
  for (const [what, findings] of grouped) {
    lines.push('', `✗ ${what} (×${findings.length})`);
    for (const finding of findings.slice(0, 3)) lines.push(`    ${finding.seq ? `request ${finding.seq}: ` : ''}${finding.detail}`);
  }
  return lines.join('\n');
}

function describeClass(failure: FailureClass, seed: number): string[] {
  const ingredients = [...failure.ingredients].sort(([, a], [, b]) => b - a).slice(0, 6).map(([name, count]) => `${name} ×${count}`).join(', ');
  const { tried, reproduced, requests } = failure.shrunk;
  const shrinking = !tried ? 'not shrunk (past the classes that are); as first sent:' : reproduced ? `shrunk in ${requests} requests to:` : `not reproduced on replay (${requests} requests); as first sent:`;
  return [
    '',
    `✗ ${failure.label} → ${failure.status}: ${failure.reason} (×${failure.count})`,
    `    detail: ${failure.detail}`,
    ...(failure.serverError ? [`    server log: ${failure.serverError.slice(0, 300)}`] : []),
    `    in the failing requests: ${ingredients || 'nothing hostile'}`,
    `    first at run ${failure.run} of seed ${seed}; ${shrinking}`,
    ...reproduction(failure.example).map((line) => `      ${line}`),
  ];
}

/** The request as sent (the caller's key named by its role), and its answer. */
export function reproduction({ fuzz, sent, outcome }: Exchange): string[] {
  const shown = (text: string) => (text.length > 400 ? `${text.slice(0, 400)}…(${text.length} chars)` : text);
  const headers = Object.entries(sent.headers)
    .filter(([name]) => name !== 'x-correlation-id' || fuzz.headers.some(([hostile]) => hostile === name))
    .map(([name, value]) => (name === 'authorization' && !fuzz.headers.some(([hostile]) => hostile === name) ? `authorization: Bearer <${fuzz.caller} key>` : `${name}: ${JSON.stringify(value).slice(0, 120)}`));
  return [
    `${sent.method.toUpperCase()} ${shown(sent.url)}`,
    ...(headers.length > 0 ? [`headers: ${headers.join('; ')}`] : []),
    ...(sent.bodyPreview !== undefined ? [`body: ${shown(sent.bodyPreview)}`] : []),
    ...(fuzz.body.kind === 'json' && fuzz.body.mutations.length > 0 ? [`mutated: ${fuzz.body.mutations.map(describeMutation).join('; ')}`] : []),
    `answer: ${outcome.status} ${outcome.contentType} ${shown(typeof outcome.body === 'string' ? outcome.body : JSON.stringify(outcome.body) ?? '')}`,
  ];
}

/** "deep-nesting at payload.x: <3000 levels of […]>": where the body was mutated, and to what. */
function describeMutation(mutation: Mutation): string {
  const at = `${mutation.kind} at ${mutation.path.map(String).map((key) => shortString(key).slice(1, -1)).join('.') || '(body)'}`;
  const resolveNothing = () => '<seeded id>';
  switch (mutation.op) {
    case 'replace':
      return `${at}: ${preview(mutation.value, resolveNothing)}`;
    case 'insert':
      return `${at}: ${shortString(mutation.piece)} inserted`;
    case 'drop':
      return `${at}: ${shortString(mutation.key)} dropped`;
    case 'add':
      return `${at}: ${shortString(mutation.key)} added`;
  }
}
