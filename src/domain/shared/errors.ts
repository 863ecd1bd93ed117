/**
 * A rule of the domain refused a command. `code` is stable (clients and tests rely on it) and
 * stands for the kind of refusal; `message` says what happened this time (the stage it saw, the
 * revision it found) and becomes the problem's `detail`. The title a client sees is the code's,
 * from the HTTP edge's catalogue (src/http/problem-catalog.ts): list a new code there.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The command asks for something the current state does not allow (409). */
export class IllegalStateError extends DomainError {
  constructor(code: string, message: string) {
    super(code, 409, message);
  }
}

/**
 * The stream kept changing under every attempt of the command (409): nothing is wrong with the
 * command itself, and trying again later may well succeed (unlike a rule's refusal).
 */
export class ContentionError extends DomainError {
  constructor(message: string) {
    super('STREAM.CONTENDED', 409, message);
  }
}

/** The command names something that does not exist (404). */
export class NotFoundError extends DomainError {
  constructor(code: string, message: string) {
    super(code, 404, message);
  }
}

/** Input the domain refuses (400), such as a missing reason, naming the field at fault as the request spells it. */
export class ValidationError extends DomainError {
  /** Each field at fault with what is wrong with it; by default `field` with the message. */
  readonly errors: readonly { field: string; message: string }[];

  constructor(
    code: string,
    message: string,
    readonly field: string,
    errors?: readonly { field: string; message: string }[],
  ) {
    super(code, 400, message);
    this.errors = errors?.length ? errors : [{ field, message }];
  }
}

/** The actor may not do this to this thing, whatever their role (403). */
export class ForbiddenError extends DomainError {
  constructor(code: string, message: string) {
    super(code, 403, message);
  }
}

/** The client pinned a revision (If-Match) that is no longer the stream's (412). */
export class ConcurrencyError extends DomainError {
  constructor(
    readonly expected: bigint | 'no_stream',
    readonly actual: bigint | 'no_stream',
  ) {
    super('STREAM.REVISION_CHANGED', 412, `Expected revision ${String(expected)}, but the stream is at ${String(actual)}`);
  }
}
