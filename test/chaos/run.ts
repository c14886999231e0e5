import { parseArgs } from 'node:util';
import { runChaos } from './chaos.js';

/**
 * `npm run chaos [-- --commands N --kills K --members M --days D --workers W --partitions P --seed S --json]`:
 * the chaos run (test/chaos/chaos.ts) on private servers of its own. Prints its progress and checks, then
 * its figures; with --json the last line is one JSON object. Exits 1 when an invariant does not hold.
 */
const { values } = parseArgs({
  options: {
    commands: { type: 'string', default: '100000' },
    kills: { type: 'string', default: '10' },
    members: { type: 'string', default: '2000' },
    days: { type: 'string', default: '5' },
    workers: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '16' },
    malformed: { type: 'string', default: '200' },
    'lease-ms': { type: 'string', default: '2000' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});

function whole(name: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    process.stderr.write(`chaos: --${name} must be a whole number from ${min} to ${max} (got ${String(text)})\n`);
    process.exit(2);
  }
  return value;
}

// Interrupted: exit through process.exit, so the exit hooks stop the private servers and the workers.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const members = whole('members', values.members, 10, 1_000_000);
const figures = await runChaos({
  commands: whole('commands', values.commands, members * 3, 10_000_000),
  kills: whole('kills', values.kills, 0, 1000),
  members,
  days: whole('days', values.days, 1, 50),
  workers: whole('workers', values.workers, 2, 16),
  partitions: whole('partitions', values.partitions, 1, 1024),
  malformed: whole('malformed', values.malformed, 1, 100_000),
  leaseTtlMs: whole('lease-ms', values['lease-ms'], 500, 60_000),
  seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : whole('seed', values.seed, 0, 2 ** 31),
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(values.json ? `${JSON.stringify(figures)}\n` : `${JSON.stringify(figures, null, 2)}\n`);
process.exit(figures.invariantsHold ? 0 : 1);
