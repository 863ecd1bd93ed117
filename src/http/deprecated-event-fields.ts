/**
 * Fields an upcaster renamed, by event type: new name to the old one. Answers that show event data
 * in its current shape (the recent-events query, the audit export) still carry the old name beside
 * the new one for one release, so that clients reading it keep working while they move over
 * (CHANGELOG.md names each and when it goes). The feed, webhooks and a stream's audit history send
 * the stored shape with its version and need none of this.
 */
const RENAMED: Record<string, Record<string, string>> = {
  // DealClosed version 2 (deal.upcasters.ts): `from` is answered until the release after.
  DealClosed: { fromStage: 'from' },
};

/** The data with each deprecated name of its type beside the current one; the same object when there is none to add. */
export function withDeprecatedFields<D extends Record<string, unknown>>(type: string, data: D): D {
  const renamed = RENAMED[type];
  if (!renamed) return data;
  const added = Object.entries(renamed).filter(([current, old]) => current in data && !(old in data));
  return added.length === 0 ? data : { ...data, ...Object.fromEntries(added.map(([current, old]) => [old, data[current]])) };
}
