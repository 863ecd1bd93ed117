import { takeViolations, watchAnswers } from './answers.js';
import { describeViolation } from './response-validator.js';

/**
 * Mocha root hooks (loaded by .mocharc.json for every run): every answer a test receives from a
 * dealstream app in this process is checked against the OpenAPI description the app serves, and a
 * test during which (or during whose hooks) an answer departed from it fails, naming the request,
 * the operation, the status and each departure.
 */
watchAnswers();

const failure = (violations: ReturnType<typeof takeViolations>) =>
  new Error(`${violations.length} answer${violations.length === 1 ? '' : 's'} departed from the OpenAPI description:\n${violations.map(describeViolation).join('\n')}`);

export const mochaHooks = {
  afterEach(this: Mocha.Context) {
    const violations = takeViolations();
    // Fails the test that just ran, not this hook: a failing hook would skip the rest of its suite.
    if (violations.length > 0) (this.test as Mocha.Hook).error(failure(violations));
  },
  afterAll() {
    const violations = takeViolations();
    if (violations.length > 0) throw failure(violations);
  },
};
