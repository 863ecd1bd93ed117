import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';

export type SoakRole = 'api' | 'projector' | 'worker';

/** One dealstream process of the soak: its role, which of that role it is, and how it fares. */
export interface Member {
  role: SoakRole;
  /** Stable across restarts: api 0, 1, 2; projector 0, 1; worker 0, 1. */
  slot: number;
  /** How often this slot has been started (1 for the first). */
  generation: number;
  child: ChildProcess;
  pid: number;
  /** For an API, where it listens, read from its "api listening" line. */
  port?: number;
  /** Log lines at level error, counted as they come. */
  errors: number;
  exit: Promise<number | null>;
  /** Whether the soak killed it with SIGKILL (its exit is not a failure). */
  killed: boolean;
}

/**
 * The processes of one soak: the compiled `dealstream` CLI (bin/dealstream.js, as deployed) per
 * role, all on one database and one BullMQ prefix. Each process's log goes to a file of its own in
 * `logDir` (named by role, slot and generation).
 */
export class Cluster {
  readonly members: Member[] = [];

  constructor(
    private readonly env: Record<string, string>,
    private readonly logDir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts the process for a slot, and for an API waits until it listens and answers ready. */
  async start(role: SoakRole, slot: number): Promise<Member> {
    const generation = this.members.filter((m) => m.role === role && m.slot === slot).length + 1;
    const file = createWriteStream(path.join(this.logDir, `${role}-${slot}-${generation}.log`));
    const child = spawn(process.execPath, ['bin/dealstream.js', role], {
      env: { ...process.env, ...this.env, ...(role === 'api' ? { PORT: '0' } : {}) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const member: Member = { role, slot, generation, child, pid: child.pid!, errors: 0, exit: once(child, 'exit').then(([code]) => code as number | null), killed: false };
    this.members.push(member);
    const listening = watchLines(child, file, (line) => {
      if (line.includes('"level":"error"')) member.errors++;
    });
    if (role === 'api') {
      const port = await Promise.race([listening, member.exit.then((code) => Promise.reject(new Error(`${role} ${slot} exited with ${code} before listening; see ${file.path}`)))]);
      member.port = port;
      await waitForReady(`http://127.0.0.1:${port}`);
    }
    this.log(`started ${role} ${slot} (pid ${member.pid}${member.port ? `, port ${member.port}` : ''}${generation > 1 ? `, generation ${generation}` : ''})`);
    return member;
  }

  /** The live process of a slot. */
  current(role: SoakRole, slot: number): Member {
    return this.members.filter((m) => m.role === role && m.slot === slot).at(-1)!;
  }

  /** kill -9: no shutdown, no goodbye; connections and locks die with it. */
  async kill(member: Member): Promise<void> {
    member.killed = true;
    member.child.kill('SIGKILL');
    await member.exit;
    this.log(`killed ${member.role} ${member.slot} (pid ${member.pid}) with SIGKILL`);
  }

  /** SIGTERM to every live process; their exit codes (0 is a graceful stop). */
  async stop(): Promise<{ member: Member; code: number | null }[]> {
    const live = this.members.filter((m) => m.child.exitCode === null && m.child.signalCode === null);
    for (const member of live) member.child.kill('SIGTERM');
    return Promise.all(live.map(async (member) => ({ member, code: await member.exit })));
  }

  /** Last resort on the way out: nothing of the soak may outlive it. */
  killAll(): void {
    for (const member of this.members) if (member.child.exitCode === null && member.child.signalCode === null) member.child.kill('SIGKILL');
  }
}

/** Copies a child's stderr to its log file line by line; resolves with the API's port once it says it listens. */
function watchLines(child: ChildProcess, file: WriteStream, onLine: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    let rest = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      file.write(chunk);
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        onLine(line);
        if (line.includes('"api listening"')) resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.stderr!.on('end', () => file.end());
  });
}

async function waitForReady(base: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/health/ready`)).ok) return;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) throw new Error(`${base} did not become ready within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
