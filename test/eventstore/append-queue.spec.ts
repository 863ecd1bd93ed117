import { expect } from 'chai';
import { AppendQueue, type Queued } from '../../src/eventstore/postgres/append-queue.js';

interface Item extends Queued {
  name: string;
}

/** A queue whose writes finish only when the test says so. */
function harness(capacity: number) {
  const batches: string[][] = [];
  const finishers: (() => void)[] = [];
  const queue = new AppendQueue<Item>(capacity, (batch) => {
    batches.push(batch.map((item) => item.name));
    return new Promise<void>((resolve) => finishers.push(resolve));
  });
  const push = (name: string, streamId: string, bytes = 10) => queue.push({ name, streamId, bytes });
  const finish = async (index: number) => {
    finishers[index]!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { batches, push, finish };
}

describe('AppendQueue (group commit)', () => {
  it('writes an append at once when a statement is free', () => {
    const { batches, push } = harness(2);
    push('a', 's1');
    push('b', 's2');
    expect(batches).to.deep.equal([['a'], ['b']]);
  });

  it('lets appends that arrive while every statement is busy share the next one', async () => {
    const { batches, push, finish } = harness(1);
    push('a', 's1');
    push('b', 's2');
    push('c', 's3');
    expect(batches).to.deep.equal([['a']]);
    await finish(0);
    expect(batches).to.deep.equal([['a'], ['b', 'c']]);
  });

  it('never lets two appends to one stream share or overlap, and keeps their order', async () => {
    const { batches, push, finish } = harness(2);
    push('a1', 'A');
    push('a2', 'A');
    push('b1', 'B');
    push('a3', 'A');
    expect(batches).to.deep.equal([['a1'], ['b1']]);
    await finish(1);
    expect(batches, 'A is still busy').to.have.length(2);
    await finish(0);
    expect(batches[2]).to.deep.equal(['a2']);
    await finish(2);
    expect(batches[3]).to.deep.equal(['a3']);
  });

  it('bounds a statement by size, and still takes one append larger than the bound', async () => {
    const { batches, push, finish } = harness(1);
    push('first', 's0');
    push('huge', 's1', 10 * 1024 * 1024);
    push('big', 's2', 3 * 1024 * 1024);
    push('bigger', 's3', 3 * 1024 * 1024);
    await finish(0);
    expect(batches[1]).to.deep.equal(['huge']);
    await finish(1);
    expect(batches[2]).to.deep.equal(['big']);
    await finish(2);
    expect(batches[3]).to.deep.equal(['bigger']);
  });
});
