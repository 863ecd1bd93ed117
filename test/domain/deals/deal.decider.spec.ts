import { expect } from 'chai';
import { dealDecider, type DealCommand } from '../../../src/domain/deals/deal.decider.js';
import type { DealEvent, OpenStage } from '../../../src/domain/deals/deal.events.js';
import type { CommandMetadata } from '../../../src/domain/shared/event.js';
import { compareDecimals } from '../../../src/domain/shared/money.js';
import { deciderSpec } from '../../support/decider-spec.js';

const given = deciderSpec(dealDecider);
const dealId = 'deal-7c9e6679';
const at = '2026-11-22T10:00:00.000Z';
const command: CommandMetadata = { actor: { kind: 'user', id: 'u-ana' }, now: at, correlationId: 'corr-1', causationId: 'req-1' };
const metadata = { actor: command.actor, correlationId: 'corr-1', causationId: 'req-1', occurredAt: at, schemaVersion: 1 };
const amount = { amount: '1250000.00', currency: 'USD' };

const created: DealEvent = {
  type: 'DealCreated',
  data: { dealId, name: 'Acme buyout', company: 'Acme Ltd', amount, ownerId: 'u-ana', tags: ['saas'], stage: 'sourcing' },
  metadata,
};
const movedTo = (from: OpenStage, to: OpenStage, reason?: string): DealEvent => ({
  type: 'DealStageChanged',
  data: { dealId, from, to, ...(reason ? { reason } : {}) },
  metadata,
});
// DealClosed is at schema version 2 (deal.upcasters.ts): the decider stamps it so.
const closedMetadata = { ...metadata, schemaVersion: 2 };
const lostFrom = (fromStage: OpenStage): DealEvent => ({ type: 'DealClosed', data: { dealId, outcome: 'lost', fromStage, reason: 'Seller walked away' }, metadata: closedMetadata });
const wonEvent: DealEvent = { type: 'DealClosed', data: { dealId, outcome: 'won', fromStage: 'closing' }, metadata: closedMetadata };
const inClosing = [created, movedTo('sourcing', 'closing')];

const stage = (data: Extract<DealCommand, { type: 'ChangeDealStage' }>['data']): DealCommand => ({
  type: 'ChangeDealStage',
  data,
  metadata: command,
});

describe('Deal decider', () => {
  describe('CreateDeal', () => {
    const create: DealCommand = {
      type: 'CreateDeal',
      data: { dealId, name: 'Acme buyout', company: 'Acme Ltd', amount, ownerId: 'u-ana', tags: ['saas'] },
      metadata: command,
    };
    it('creates a deal in sourcing', () => given([]).when(create).then([created]));
    it('refuses to create a deal twice', () => given([created]).when(create).thenThrows('DEAL.ALREADY_EXISTS', 409));
  });

  describe('commands on a deal that does not exist', () => {
    for (const cmd of [
      stage({ to: 'screening' }),
      { type: 'UpdateDeal', data: { name: 'x' }, metadata: command } as DealCommand,
      { type: 'AssignDealOwner', data: { ownerId: 'u-bo' }, metadata: command } as DealCommand,
      { type: 'AddDealNote', data: { noteId: 'n1', text: 'hi' }, metadata: command } as DealCommand,
      { type: 'ReopenDeal', data: { reason: 'x' }, metadata: command } as DealCommand,
    ]) {
      it(`${cmd.type} is refused as not found`, () => given([]).when(cmd).thenThrows('DEAL.NOT_FOUND', 404));
    }
  });

  describe('UpdateDeal', () => {
    it('records only the fields that change', () =>
      given([created])
        .when({ type: 'UpdateDeal', data: { name: 'Acme carve-out', company: 'Acme Ltd', tags: ['saas'] }, metadata: command })
        .then([{ type: 'DealUpdated', data: { dealId, name: 'Acme carve-out' }, metadata }]));
    it('records a new amount exactly', () =>
      given([created])
        .when({ type: 'UpdateDeal', data: { amount: { amount: '1250000.01', currency: 'USD' } }, metadata: command })
        .then([{ type: 'DealUpdated', data: { dealId, amount: { amount: '1250000.01', currency: 'USD' } }, metadata }]));
    it('records nothing when nothing changes', () =>
      given([created]).when({ type: 'UpdateDeal', data: { name: 'Acme buyout', amount }, metadata: command }).then([]));
    it('compares amounts by value: the canonical form of the same amount is no change', () =>
      given([created]).when({ type: 'UpdateDeal', data: { amount: { amount: '1250000', currency: 'USD' } }, metadata: command }).then([]));
    it('refuses to update a closed deal', () =>
      given([...inClosing, wonEvent]).when({ type: 'UpdateDeal', data: { name: 'x' }, metadata: command }).thenThrows('DEAL.CLOSED', 409));
  });

  describe('AssignDealOwner', () => {
    it('assigns a new owner, naming the previous one', () =>
      given([created])
        .when({ type: 'AssignDealOwner', data: { ownerId: 'u-bo' }, metadata: command })
        .then([{ type: 'DealOwnerAssigned', data: { dealId, ownerId: 'u-bo', previousOwnerId: 'u-ana' }, metadata }]));
    it('records nothing when the owner is already that person', () =>
      given([created]).when({ type: 'AssignDealOwner', data: { ownerId: 'u-ana' }, metadata: command }).then([]));
    it('refuses to reassign a lost deal', () =>
      given([created, lostFrom('sourcing')]).when({ type: 'AssignDealOwner', data: { ownerId: 'u-bo' }, metadata: command }).thenThrows('DEAL.CLOSED'));
  });

  describe('AddDealNote', () => {
    it('adds a note written by the actor, trimmed', () =>
      given([created])
        .when({ type: 'AddDealNote', data: { noteId: 'n1', text: '  Call went well  ' }, metadata: command })
        .then([{ type: 'DealNoteAdded', data: { dealId, noteId: 'n1', text: 'Call went well', authorId: 'u-ana' }, metadata }]));
    it('accepts notes on a closed deal (a post-mortem is a note too)', () =>
      given([...inClosing, wonEvent])
        .when({ type: 'AddDealNote', data: { noteId: 'n2', text: 'Lessons learned' }, metadata: command })
        .then([{ type: 'DealNoteAdded', data: { dealId, noteId: 'n2', text: 'Lessons learned', authorId: 'u-ana' }, metadata }]));
    it('refuses an empty note', () =>
      given([created]).when({ type: 'AddDealNote', data: { noteId: 'n1', text: '   ' }, metadata: command }).thenThrows('DEAL.NOTE_EMPTY', 400));
  });

  describe('ChangeDealStage', () => {
    it('moves forward one stage', () => given([created]).when(stage({ to: 'screening' })).then([movedTo('sourcing', 'screening')]));
    it('moves forward skipping stages', () => given([created]).when(stage({ to: 'negotiation' })).then([movedTo('sourcing', 'negotiation')]));
    it('moves back with a reason', () =>
      given([created, movedTo('sourcing', 'diligence')])
        .when(stage({ to: 'screening', reason: 'Financials incomplete' }))
        .then([movedTo('diligence', 'screening', 'Financials incomplete')]));
    it('refuses to move back without a reason', () =>
      given([created, movedTo('sourcing', 'diligence')]).when(stage({ to: 'screening', reason: '  ' })).thenThrows('DEAL.REASON_REQUIRED', 400));
    it('refuses a move to the stage the deal is in', () => given([created]).when(stage({ to: 'sourcing' })).thenThrows('DEAL.STAGE_UNCHANGED', 409));
    it('wins a deal from closing', () => given(inClosing).when(stage({ to: 'won' })).then([wonEvent]));
    for (const from of ['sourcing', 'screening', 'diligence', 'negotiation'] as const) {
      const history = from === 'sourcing' ? [created] : [created, movedTo('sourcing', from)];
      it(`refuses to win a deal from ${from}`, () => given(history).when(stage({ to: 'won' })).thenThrows('DEAL.WON_ONLY_FROM_CLOSING', 409));
      it(`loses a deal from ${from} with a reason`, () =>
        given(history).when(stage({ to: 'lost', reason: 'Seller walked away' })).then([lostFrom(from)]));
    }
    it('refuses to lose a deal without a reason', () => given([created]).when(stage({ to: 'lost' })).thenThrows('DEAL.REASON_REQUIRED', 400));
    it('treats won as final', () => given([...inClosing, wonEvent]).when(stage({ to: 'closing', reason: 'oops' })).thenThrows('DEAL.CLOSED', 409));
    it('treats lost as final for stage changes', () =>
      given([created, lostFrom('sourcing')]).when(stage({ to: 'screening' })).thenThrows('DEAL.CLOSED', 409));
  });

  describe('ReopenDeal', () => {
    it('reopens a lost deal into the stage it was lost from', () =>
      given([created, movedTo('sourcing', 'diligence'), lostFrom('diligence')])
        .when({ type: 'ReopenDeal', data: { reason: 'Seller is back' }, metadata: command })
        .then([{ type: 'DealReopened', data: { dealId, stage: 'diligence', reason: 'Seller is back' }, metadata }]));
    it('lets a reopened deal move on', () =>
      given([created, lostFrom('sourcing'), { type: 'DealReopened', data: { dealId, stage: 'sourcing', reason: 'back' }, metadata }])
        .when(stage({ to: 'screening' }))
        .then([movedTo('sourcing', 'screening')]));
    it('refuses to reopen without a reason', () =>
      given([created, lostFrom('sourcing')]).when({ type: 'ReopenDeal', data: { reason: '' }, metadata: command }).thenThrows('DEAL.REASON_REQUIRED', 400));
    it('refuses to reopen a won deal', () =>
      given([...inClosing, wonEvent]).when({ type: 'ReopenDeal', data: { reason: 'x' }, metadata: command }).thenThrows('DEAL.NOT_LOST', 409));
    it('refuses to reopen an open deal', () =>
      given([created]).when({ type: 'ReopenDeal', data: { reason: 'x' }, metadata: command }).thenThrows('DEAL.NOT_LOST', 409));
  });
});

describe('compareDecimals', () => {
  const cases: [string, string, number][] = [
    ['1', '1.0', 0],
    ['10', '9.99', 1],
    ['0.5', '0.49', 1],
    ['1000000', '999999.9999', 1],
    ['2.5', '2.50', 0],
    ['3', '30', -1],
  ];
  for (const [a, b, result] of cases) it(`compares ${a} and ${b} exactly`, () => expect(compareDecimals(a, b)).to.equal(result));
});
