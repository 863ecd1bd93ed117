import type { Command, Delivery, SoakClient } from './client.js';
import { idOf } from './client.js';

/** The principals the load acts as (their keys are made with `dealstream keys create`). */
export const SOAK_PRINCIPALS = { 'ops-a': 'operator', 'ops-b': 'operator', 'appr-a': 'approver', 'appr-b': 'approver' } as const;
const OPERATORS = ['ops-a', 'ops-b'];
const APPROVERS = ['appr-a', 'appr-b'];

interface Deal {
  id: string;
  /** At least 10,000,000: the risk policy raises actions on it one level (add_note needs an approver). */
  big: boolean;
  /** One of the few deals that take most notes, in bursts of concurrent ones. */
  hot: boolean;
  /** In negotiation: one more level (assign_owner on a big one is critical, two approvers). */
  negotiation: boolean;
}

interface Pending {
  actionId: string;
  approvals: 1 | 2;
}

export interface LoadOptions {
  clients: number;
  /** Concurrent notes in one burst on a hot deal. */
  burst: number;
  /** Share of commands that carry an Idempotency-Key. */
  keyed: number;
  /** Share of acknowledged keyed commands sent once more, to another API. */
  repeated: number;
  /** Share of keyed commands sent twice at the same time, to two APIs. */
  twins: number;
}

const random = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const chance = (p: number) => Math.random() < p;

/**
 * The mixed load: deals created, patched and noted (hot deals take bursts of concurrent notes),
 * actions proposed (most need one or two human approvals) and approved, some commands with an
 * Idempotency-Key sent again or twice at once. `clients` loops run until `until`.
 */
export class SoakLoad {
  private readonly deals: Deal[] = [];
  private readonly pending: Pending[] = [];

  constructor(
    private readonly client: SoakClient,
    private readonly options: LoadOptions,
  ) {}

  /** Deals to work on: hot ones, big ones, and big ones in negotiation. */
  async seed(): Promise<void> {
    for (let i = 0; i < 24; i++) {
      const deal = await this.createDeal({ big: i % 3 === 0, hot: i < 5 });
      if (deal && deal.big && i % 2 === 0) {
        const moved = await this.send(this.client.command('stage', 'POST', `/api/deals/${deal.id}/stage`, { to: 'negotiation' }, random(OPERATORS), { stream: `deal-${deal.id}` }));
        if (moved) deal.negotiation = true;
      }
    }
  }

  async run(until: number): Promise<void> {
    await Promise.all(Array.from({ length: this.options.clients }, async () => {
      while (Date.now() < until) await this.step();
    }));
  }

  private async step(): Promise<void> {
    const r = Math.random();
    if (r < 0.3) return void (await this.note(chance(1 / 3) ? this.hot() : random(this.deals)));
    if (r < 0.36) return this.burst();
    if (r < 0.44) return void (await this.createDeal({ big: chance(1 / 3), hot: false }));
    if (r < 0.54) return this.patch();
    if (r < 0.72) return this.propose();
    return this.approve();
  }

  private hot(): Deal {
    return random(this.deals.filter((deal) => deal.hot));
  }

  private async createDeal(shape: { big: boolean; hot: boolean }): Promise<Deal | undefined> {
    const n = this.deals.length;
    const body = { name: `Soak deal ${n}`, company: `Company ${n % 17}`, amount: { amount: shape.big ? '25000000.00' : `${100_000 + n}.00`, currency: 'USD' }, tags: [`soak`] };
    const command = this.client.command('create', 'POST', '/api/deals', body, random(OPERATORS), { key: chance(this.options.keyed) });
    if (!(await this.send(command))) return undefined;
    const deal: Deal = { id: idOf(command.stream!), ...shape, negotiation: false };
    this.deals.push(deal);
    return deal;
  }

  private note(deal: Deal, who = random([...OPERATORS, ...APPROVERS])): Promise<boolean> {
    const command = this.client.command(deal.hot ? 'note (hot deal)' : 'note', 'POST', `/api/deals/${deal.id}/notes`, { text: `Soak note on ${deal.id}` }, who, { key: chance(this.options.keyed), stream: `deal-${deal.id}` });
    return this.send(command);
  }

  /** Concurrent notes on one hot deal, spread over the APIs by the rotation. */
  private async burst(): Promise<void> {
    const deal = this.hot();
    await Promise.all(Array.from({ length: this.options.burst }, () => this.note(deal)));
  }

  private async patch(): Promise<void> {
    const deal = random(this.deals);
    const command = this.client.command('patch', 'PATCH', `/api/deals/${deal.id}`, { name: `Soak deal renamed ${Math.random().toString(36).slice(2, 10)}`, ...(chance(0.3) ? { tags: ['soak', `t${Math.floor(Math.random() * 100)}`] } : {}) }, random(OPERATORS), { key: chance(this.options.keyed), stream: `deal-${deal.id}` });
    await this.send(command);
  }

  /**
   * Most proposals need people: add_note on a big deal one approver, assign_owner on a big deal in
   * negotiation two; a few add_note proposals on small deals are approved by the policy at once.
   */
  private async propose(): Promise<void> {
    const r = Math.random();
    const critical = r < 0.15 && this.deals.some((deal) => deal.negotiation);
    const small = !critical && r < 0.3;
    const deal = random(this.deals.filter((d) => (critical ? d.negotiation : small ? !d.big : d.big)));
    const body = critical
      ? { dealId: deal.id, kind: 'assign_owner', title: 'Hand the deal over', payload: { ownerId: `owner-${Math.random().toString(36).slice(2, 12)}` } }
      : { dealId: deal.id, kind: 'add_note', title: 'Record the call', payload: { text: `Note asked for by an action on ${deal.id}` } };
    const command = this.client.command(critical ? 'propose (2 approvals)' : small ? 'propose (policy approves)' : 'propose (1 approval)', 'POST', '/api/actions', body, random(OPERATORS), { key: chance(this.options.keyed) });
    if ((await this.send(command)) && !small) this.pending.push({ actionId: idOf(command.stream!), approvals: critical ? 2 : 1 });
  }

  /** The oldest pending action, approved by one approver, or by both at once through two APIs. */
  private async approve(): Promise<void> {
    const action = this.pending.shift();
    if (!action) return void (await this.note(random(this.deals)));
    const approvers = action.approvals === 2 ? APPROVERS : [random(APPROVERS)];
    await Promise.all(approvers.map((who) =>
      this.send(this.client.command(action.approvals === 2 ? 'approve (of 2)' : 'approve', 'POST', `/api/actions/${action.actionId}/approve`, {}, who, { key: chance(this.options.keyed), stream: `action-${action.actionId}` })),
    ));
  }

  /**
   * Sends a command: keyed ones now and then twice at once (twins), and once more after their
   * answer (a repeat). Whether it was acknowledged.
   */
  private async send(command: Command): Promise<boolean> {
    let deliveries: Delivery[];
    if (command.key && chance(this.options.twins)) deliveries = await Promise.all([this.client.send(command), this.client.send(command, 'twin')]);
    else deliveries = [await this.client.send(command)];
    const acknowledged = deliveries.some((delivery) => delivery.outcome === 'acknowledged');
    if (acknowledged && command.key && chance(this.options.repeated)) await this.client.send(command, 'repeat');
    return acknowledged;
  }
}
