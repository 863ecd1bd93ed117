/** A payload that fits each of dealstream's own action kinds (src/domain/actions/action-kinds.ts), for tests that propose them. */
export const PAYLOADS = {
  add_note: { text: 'Called the CFO' },
  assign_owner: { ownerId: 'u-bo' },
  change_stage: { to: 'diligence' },
  request_documents: { documents: ['audited accounts 2025'], from: 'cfo@acme.test' },
  schedule_meeting: { startsAt: '2026-11-23T10:00:00Z', durationMinutes: 30, attendees: ['cfo@acme.test'] },
  send_email: { to: ['cfo@acme.test'], subject: 'The NDA', body: 'Please find the NDA attached.' },
  share_data_room: { recipients: ['cfo@acme.test'], access: 'view' },
} as const satisfies Record<string, Record<string, unknown>>;

export type SampleKind = keyof typeof PAYLOADS;

/** The sample payload of a kind, as a fresh object. */
export const payloadOf = (kind: SampleKind): Record<string, unknown> => structuredClone(PAYLOADS[kind]) as Record<string, unknown>;
