/**
 * Caps on the integration feeds one API process holds open: each holds a subscription to the log
 * and a connection for as long as its client stays, so one principal (or everyone together) could
 * otherwise hold them all. A slot is taken when a feed opens and given back when it ends.
 */
export interface FeedCaps {
  perPrincipal: number;
  perProcess: number;
}

export type FeedSlot = { release(): void };

export class FeedSlots {
  private open = 0;
  private readonly byPrincipal = new Map<string, number>();

  constructor(readonly caps: FeedCaps) {}

  /** A slot for one more feed of this principal, or which cap is reached. */
  take(principalId: string): FeedSlot | 'principal' | 'process' {
    const held = this.byPrincipal.get(principalId) ?? 0;
    if (held >= this.caps.perPrincipal) return 'principal';
    if (this.open >= this.caps.perProcess) return 'process';
    this.open++;
    this.byPrincipal.set(principalId, held + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        const left = this.byPrincipal.get(principalId)! - 1;
        if (left === 0) this.byPrincipal.delete(principalId);
        else this.byPrincipal.set(principalId, left);
      },
    };
  }

  /** Feeds open now: in all, or of one principal. */
  count(principalId?: string): number {
    return principalId === undefined ? this.open : (this.byPrincipal.get(principalId) ?? 0);
  }
}
