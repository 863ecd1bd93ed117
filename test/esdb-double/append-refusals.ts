import { status } from '@grpc/grpc-js';

/** Fault injection: the next appends fail with a gRPC status, as if the server were unreachable. */
export class AppendRefusals {
  private remaining = 0;
  private code: status = status.UNAVAILABLE;

  refuse(count: number, code: status = status.UNAVAILABLE): void {
    this.remaining = count;
    this.code = code;
  }

  /** The status to fail this append with, if a refusal is pending (it is used up). */
  next(): status | undefined {
    if (this.remaining <= 0) return undefined;
    this.remaining -= 1;
    return this.code;
  }
}
