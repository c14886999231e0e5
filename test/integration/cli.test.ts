import { tmpdir } from 'node:os';
import { AckPolicy, DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../src/api/keys.js';
import type { ShardsReport } from '../../src/cli/commands/shards.js';
import { createPool, urlWithDatabase } from '../../src/journal/database.js';
import { createExecutor } from '../../src/journal/executor.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, type Command } from '../../src/ledger/index.js';
import { claimPartition } from '../../src/shards/fence.js';
import { names } from '../../src/shards/names.js';
import { provisionStreams, STREAM_LIMITS_DEFAULT } from '../../src/shards/streams.js';
import { createTestDatabase, ownerUrl, type TestDatabase } from '../support/database.js';
import { ROOT, runFile as runFileIn, runPotledger, type CliRun } from '../support/cli.js';
import { createTestNats, natsUrl, type TestNats } from '../support/nats.js';
import { stringMatching } from '../support/matchers.js';

/**
 * The operator CLI as an operator runs it: a child process per command, against this file's own
 * database and NATS prefix, judged by its exit code, its stdout and its stderr.
 */

const assets = assetCatalog(DEFAULT_ASSETS);
const PARTITIONS = 4;

let db: TestDatabase;
let nats: TestNats;

beforeAll(async () => {
  db = await createTestDatabase('cli');
  nats = await createTestNats('cli');
});
afterAll(async () => {
  await nats?.cleanup();
  await db?.drop();
});

/** The test's database and NATS prefix, and anything more. */
function environment(env: Readonly<Record<string, string>>): Record<string, string> {
  return { DATABASE_URL: urlWithDatabase(ownerUrl(), db.name), NATS_URL: natsUrl(), NATS_PREFIX: nats.prefix, PARTITION_COUNT: String(PARTITIONS), ...env };
}

function runFile(file: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd = ROOT): Promise<CliRun> {
  return runFileIn(file, args, environment(env), cwd);
}

function potledger(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliRun> {
  return runPotledger(args, environment(env));
}

/** The one JSON document of a --json run. */
function json<T>(run: CliRun): T {
  return JSON.parse(run.stdout) as T;
}

const STACK_LINE = /^\s+at /m;

let sequence = 0;
function command(process: string, payload: unknown, potId = 'P-CLI', memberId = 'M-CLI'): Command {
  sequence += 1;
  return { commandId: `cli-${sequence}`, process, memberId, potId, payload, effectiveDate: '2026-11-22', producedAt: '2026-11-22T09:00:00Z' };
}

describe('potledger help and usage errors', () => {
  it('lists every command for help, --help and no arguments', async () => {
    for (const args of [['help'], ['--help'], []]) {
      const run = await potledger(args);
      expect(run.status).toBe(0);
      expect(run.stdout).toContain('usage: potledger <command>');
      for (const name of ['verify', 'balance-sheet', 'shards', 'outcome', 'poison', 'api-key create', 'api-key list', 'api-key revoke']) {
        expect(run.stdout).toContain(`  potledger ${name} `);
      }
    }
  });

  it('runs through the bin script from any directory', async () => {
    const run = await runFile(`${ROOT}bin/potledger`, ['help'], {}, tmpdir());
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('balance-sheet');
  });

  it('exits 2 with a message and no stack for an unknown command, an unknown flag or a bad value', async () => {
    const cases: [readonly string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['verify', '--frobnicate'], /Unknown option '--frobnicate'[\s\S]*usage: potledger verify/],
      [['poison', '--limit', 'many'], /--limit takes a whole number, not "many"/],
      [['outcome'], /expected 1 argument\(s\), got 0/],
      [['api-key', 'create', '--role', 'admin'], /--role is one of service, operator, member, not "admin"/],
      [['api-key', 'create', '--role', 'member'], /a member key names its member/],
      [['api-key', 'rotate'], /api-key takes create, list or revoke, not "rotate"/],
    ];
    for (const [args, message] of cases) {
      const run = await potledger(args);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toMatch(STACK_LINE);
      expect(run.stdout).toBe('');
    }
  });

  it('exits 2 saying the schema is missing on a database that was never migrated', async () => {
    const name = `${db.name}_bare`;
    const admin = createPool(ownerUrl(), { max: 1 });
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const run = await potledger(['balance-sheet'], { DATABASE_URL: urlWithDatabase(ownerUrl(), name) });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/the database has no potledger schema yet .*: start the service or run migrations/);
      expect(run.stderr).not.toMatch(STACK_LINE);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});

describe('potledger api-key', () => {
  it('creates, lists and revokes keys, and a revoked key no longer authenticates', async () => {
    const operator = await potledger(['api-key', 'create', '--role', 'operator', '--label', 'night shift', '--json']);
    expect(operator.status).toBe(0);
    const created = json<{ keyId: string; role: string; key: string }>(operator);
    expect(created).toEqual({ keyId: stringMatching(/^[0-9a-f]{16}$/), role: 'operator', key: stringMatching(/^plk_[0-9a-f]{16}_/) });
    expect(created.key.startsWith(`plk_${created.keyId}_`)).toBe(true);
    expect(await authenticate(db.service, created.key)).toEqual({ keyId: created.keyId, role: 'operator' });

    const human = await potledger(['api-key', 'create', '--role', 'member', '--member', 'M-7']);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^key: plk_[0-9a-f]{16}_\S+$/m);
    expect(human.stderr).toMatch(/shown only this once/);

    const listed = json<{ keyId: string; role: string; memberId?: string; label: string }[]>(await potledger(['api-key', 'list', '--json']));
    expect(listed).toContainEqual(expect.objectContaining({ keyId: created.keyId, role: 'operator', label: 'night shift' }));
    expect(listed).toContainEqual(expect.objectContaining({ role: 'member', memberId: 'M-7', label: '' }));
    expect(JSON.stringify(listed)).not.toContain('plk_');

    const revoked = await potledger(['api-key', 'revoke', created.keyId, '--json']);
    expect(revoked.status).toBe(0);
    expect(json(revoked)).toEqual({ keyId: created.keyId, revoked: true });
    expect(await authenticate(db.service, created.key)).toBeUndefined();
    const afterRevoke = json<{ keyId: string; revokedAt?: string }[]>(await potledger(['api-key', 'list', '--json']));
    expect(afterRevoke.find((key) => key.keyId === created.keyId)?.revokedAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    const again = await potledger(['api-key', 'revoke', created.keyId]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/no active API key/);
  });
});

describe('potledger outcome, balance-sheet and verify', () => {
  const open = command('pot.open', {});
  const deposit = command('cash.deposit', { amount: '200.00', currency: 'GBP' });
  const overdraw = command('cash.withdraw', { amount: '5000.00', currency: 'GBP' });

  beforeAll(async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS });
    for (const c of [open, deposit, overdraw]) await executor.execute(c);
  });

  it('exits 1 for a command with no recorded outcome', async () => {
    const run = await potledger(['outcome', 'no-such-command', '--json']);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/no outcome is recorded for command "no-such-command"/);
  });

  it('prints the recorded outcome of a committed command and of a rejected one', async () => {
    const run = await potledger(['outcome', deposit.commandId, '--json']);
    expect(run.status).toBe(0);
    const recorded = json<{
      commandId: string;
      seq: string;
      outcome: { kind: string; movement: { potId: string; entries: { asset: string; amount: string }[] } };
    }>(run);
    expect(recorded.commandId).toBe(deposit.commandId);
    expect(recorded.seq).toMatch(/^[0-9]+$/);
    expect(recorded.outcome.kind).toBe('applied');
    expect(recorded.outcome.movement.potId).toBe('P-CLI');
    expect(recorded.outcome.movement.entries).toContainEqual(expect.objectContaining({ asset: 'GBP', amount: '200.00' }));

    const human = await potledger(['outcome', deposit.commandId]);
    expect(human.stdout).toMatch(/outcome\s+applied/);
    expect(human.stdout).toContain('200.00');

    const rejected = json<{ outcome: { kind: string; code: string } }>(await potledger(['outcome', overdraw.commandId, '--json']));
    expect(rejected.outcome).toMatchObject({ kind: 'rejected', code: 'LEDGER_ERR_INSUFFICIENT_FUNDS' });
  });

  it('shows the pot cash total, and a net of zero per asset', async () => {
    const run = await potledger(['balance-sheet', '--json']);
    expect(run.status).toBe(0);
    const sheet = json<{ lines: { kind: string; owner: string; asset: string; total: string }[]; netByAsset: Record<string, string> }>(run);
    expect(sheet.lines).toContainEqual({ kind: 'cash', owner: 'pot', asset: 'GBP', total: '200.00' });
    expect(Object.keys(sheet.netByAsset)).toContain('GBP');
    for (const net of Object.values(sheet.netByAsset)) expect(net).toMatch(/^-?0(\.0+)?$/);

    const human = await potledger(['balance-sheet']);
    expect(human.stdout).toMatch(/^cash\s+pot\s+GBP\s+200\.00$/m);
    expect(human.stdout).toMatch(/^GBP\s+0\.00$/m);
  });

  it('verifies a sound database: exit 0, one JSON report, no progress bar in a pipe', async () => {
    const run = await potledger(['verify', '--json']);
    expect(run.status).toBe(0);
    const report = json<{ ok: boolean; checks: { ok: boolean }[]; counts: { movements: number } }>(run);
    expect(report.ok).toBe(true);
    expect(report.counts.movements).toBe(2);
    expect(run.stderr).toBe('');
  });
});

describe('potledger shards', () => {
  const streamNames = () => names(nats.prefix);

  beforeAll(async () => {
    // Partition 1 claimed, with its epoch's consumer and two commands waiting in it; partition 2 claimed
    // by a worker whose consumer is gone; 0 and 3 never claimed. No worker runs, so nothing moves.
    const jsm = await provisionStreams(nats.nc, streamNames(), { ...STREAM_LIMITS_DEFAULT, maxBytes: 8 * 1024 ** 2 });
    const claim = await claimPartition(db.service, 1, 'cli-test-worker');
    await claimPartition(db.service, 2, 'cli-gone-worker');
    await jsm.consumers.add(streamNames().commandStream, {
      durable_name: streamNames().consumerName(1, claim.epoch),
      filter_subject: streamNames().commandSubject(1),
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.All,
    });
    const js = jetstream(nats.nc);
    for (const body of ['{"first":1}', '{"second":2}']) await js.publish(streamNames().commandSubject(1), body);
  });

  it('lists every partition: its owner, its consumer and what waits in it, or that it is unowned', async () => {
    const run = await potledger(['shards', '--json']);
    expect(run.status).toBe(0);
    const report = json<ShardsReport>(run);
    expect(report.nats).toEqual({ reachable: true, stream: { name: streamNames().commandStream, lastSeq: 2 } });
    expect(report.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    const [unowned, owned, consumerless] = report.partitions;
    expect(unowned).toEqual({ partition: 0, owner: null, consumer: null });
    expect(owned?.owner).toMatchObject({
      workerId: 'cli-test-worker',
      epoch: '1',
      checkpointSeq: '0',
      committedAt: null,
      secondsSinceCommit: null,
    });
    expect(owned?.consumer).toEqual({ name: streamNames().consumerName(1, 1n), pending: 2, ackPending: 0 });
    expect(consumerless?.owner?.workerId).toBe('cli-gone-worker');
    expect(consumerless?.consumer).toBeNull();

    const human = await potledger(['shards']);
    expect(human.stdout).toMatch(/^\s*0\s+unowned$/m);
    expect(human.stdout).toMatch(/^\s*1\s+cli-test-worker\s+1\s+0\s+2\s+0\s+never$/m);
    expect(human.stdout).toMatch(/^\s*2\s+cli-gone-worker\s+1\s+0\s+no consumer\s+never$/m);
  });

  it('still shows the Postgres side when NATS is out of reach, says so, and exits 1', async () => {
    const run = await potledger(['shards', '--json'], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(run.status).toBe(1);
    const report = json<ShardsReport>(run);
    expect(report.nats.reachable).toBe(false);
    expect(report.partitions[1]?.owner?.workerId).toBe('cli-test-worker');
    expect(run.stderr).toMatch(/NATS at nats:\/\/127\.0\.0\.1:1 is out of reach/);
  });
});
