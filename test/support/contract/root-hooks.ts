import { takeViolations, watchAnswers } from './answers.js';
import { describeViolation, type Violation } from './response-validator.js';

/**
 * Mocha root hooks (loaded by .mocharc.json for every run): every answer a test receives from a
 * dealstream app in this process is checked against the OpenAPI description the app serves, and a
 * test during which (or during whose hooks) an answer departed from it fails, naming the request,
 * the operation, the status and each departure.
 */
watchAnswers();

const failure = (violations: Violation[]) =>
  new Error(`${violations.length} answer${violations.length === 1 ? '' : 's'} departed from the OpenAPI description:\n${violations.map(describeViolation).join('\n')}`);
const CHECKED = Symbol('contract checked');

type TestFunction = ((this: Mocha.Context) => unknown) & { [CHECKED]?: true };

export const mochaHooks = {
  /** The test fails as it ends, so that it is reported failed, not passed and then failed. */
  beforeEach(this: Mocha.Context) {
    const test = this.currentTest;
    const fn = test?.fn as TestFunction | undefined;
    // A test taking `done` keeps its function (mocha reads its arity); the afterEach below catches it.
    if (!test || !fn || fn.length > 0 || fn[CHECKED]) return;
    const checked: TestFunction = async function (this: Mocha.Context) {
      await fn.call(this);
      const violations = takeViolations();
      if (violations.length > 0) throw failure(violations);
    };
    checked[CHECKED] = true;
    checked.toString = () => fn.toString(); // as reporters show it
    test.fn = checked;
  },
  /** What ended after the test did (a stream it left open), or a test that takes `done`. */
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
