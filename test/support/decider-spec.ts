import { expect } from 'chai';
import type { Decider } from '../../src/domain/shared/event.js';
import { DomainError } from '../../src/domain/shared/errors.js';

/**
 * Given/when/then for pure deciders:
 *   given([created]).when(changeStage).then([stageChanged])
 *   given([created]).when(win).thenThrows('DEAL.WON_ONLY_FROM_CLOSING')
 */
export function deciderSpec<Command, Event, State>(decider: Decider<Command, Event, State>) {
  return (history: Event[]) => ({
    when: (command: Command) => {
      const state = history.reduce(decider.evolve, decider.initialState);
      return {
        then(expected: Event[]): void {
          expect(decider.decide(command, state)).to.deep.equal(expected);
        },
        thenThrows(code: string, status?: number): void {
          let thrown: unknown;
          try {
            decider.decide(command, state);
          } catch (error) {
            thrown = error;
          }
          expect(thrown, `expected ${code}`).to.be.instanceOf(DomainError);
          expect((thrown as DomainError).code).to.equal(code);
          if (status !== undefined) expect((thrown as DomainError).status).to.equal(status);
        },
      };
    },
  });
}
