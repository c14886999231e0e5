import { api } from './api.js';
import { cycle } from './cycle.js';
import { events } from './events.js';
import { payments } from './payments.js';
import { pools } from './pools.js';
import { scale } from './scale.js';
import { flags } from './support.js';
import { throughput } from './throughput.js';

/**
 * `npm run bench -- <name> [--json] [flags]`. Benchmarks print their conditions beside their numbers;
 * with --json the last line is one JSON object. They never fail on a timing.
 */
const benches: Record<string, (options: Map<string, string>) => Promise<Record<string, unknown>>> = { api, cycle, events, payments, pools, scale, throughput };

const [name, ...rest] = process.argv.slice(2);
const bench = name === undefined ? undefined : benches[name];
if (bench === undefined) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [--json] [flags]\n`);
  process.exit(2);
}
const options = flags(rest);
const result = await bench(options);
process.stdout.write(options.has('json') ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
