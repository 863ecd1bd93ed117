/**
 * `npm run fuzz`: the fuzz suite's run (test/fuzz), longer: FUZZ_REQUESTS requests (default 20,000)
 * from FUZZ_SEED (default: a new one, printed). Prints the summary and every failure class with a
 * reproduction; exits 1 when anything failed.
 */
import { formatReport, passed } from '../test/fuzz/fuzz-report.js';
import { runFuzz } from '../test/fuzz/fuzz-run.js';

const requests = Number(process.env.FUZZ_REQUESTS ?? 20_000);
const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
process.stderr.write(`fuzz: ${requests} requests, FUZZ_SEED=${seed}\n`);
const report = await runFuzz({ requests, seed, shrunkClasses: 100, log: (line) => process.stderr.write(`fuzz: ${line}\n`) });
console.log(formatReport(report));
process.exit(passed(report) ? 0 : 1);
