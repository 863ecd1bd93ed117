import { spawn, type ChildProcess } from 'node:child_process';
import { TEST_ALLOW_PRIVATE } from './secrets.js';
import { once } from 'node:events';

export interface DealstreamProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<number | null>;
}

/** Runs the real CLI (`dealstream <args>`) from the sources in a child process. */
export function spawnDealstream(args: string[], env: Record<string, string>): DealstreamProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    // Tests' receivers listen on loopback: allowlisted, as an on-premises install allowlists its own.
    env: { ...process.env, LOG_LEVEL: 'info', OUTBOUND_ALLOW_PRIVATE: TEST_ALLOW_PRIVATE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}
