import { describe, expect, it } from 'vitest';
import { planSeed } from '../support/shard-checks.js';
import { runChaos } from './chaos.js';

/*
 * The chaos run in its CI form (issue 8): at least 10,000 commands on private servers, three worker
 * SIGKILLs, a worker frozen beyond its lease, one crash and restart of nats-server and of Postgres, a
 * burst of malformed messages. `npm run chaos` runs the long form (100,000 commands, ten kills).
 */

const COMMANDS = 10_000;

describe('the chaos run, short form', () => {
  it('loses nothing, applies nothing twice, and leaves a ledger equal to the reference run', async () => {
    const seed = planSeed('chaos');
    const figures = await runChaos({
      commands: COMMANDS,
      members: 400,
      days: 2,
      workers: 3,
      kills: 3,
      partitions: 16,
      malformed: 48,
      leaseTtlMs: 2000,
      seed,
      log: (line) => console.log(`[chaos] ${line}`),
    });
    const { checks, faults, ...summary } = figures;
    console.log(`[chaos] ${JSON.stringify(summary)}`);
    expect(checks.filter((check) => !check.ok)).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, duplicated: 0, invariantsHold: true, stuckPartitions: 0 });
    expect(figures.commands).toBeGreaterThanOrEqual(COMMANDS);
    expect(figures.faultsInjected.kill).toBeGreaterThanOrEqual(3);
    expect(figures.faultsInjected['nats-restart']).toBeGreaterThanOrEqual(1);
    expect(figures.faultsInjected['postgres-restart']).toBeGreaterThanOrEqual(1);
    expect(figures.faultsInjected.stop).toBeGreaterThanOrEqual(1);
    expect(figures.faultsInjected['malformed-burst']).toBeGreaterThanOrEqual(1);
    expect(faults).toHaveLength(7);
  }, 600_000);
});
