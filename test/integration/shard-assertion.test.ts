import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders, type Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerAssertionError, partitionOf, type Command } from '../../src/ledger/index.js';
import { names as namesFor } from '../../src/shards/names.js';
import type { ShardWorker } from '../../src/shards/worker.js';
import { HEADER, type OutcomeNotice } from '../../src/wire/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { EFFECTIVE_DATE } from '../support/shard-checks.js';
import { testShardWorker } from '../support/shard-worker.js';
import { waitFor } from '../support/wait.js';

/*
 * A bug found while a batch is planned (an internal assertion, LedgerAssertionError) must crash the
 * partition's worker loop: nothing of the batch is committed, the command is neither rejected nor kept
 * as poison, the partition is handed back and claimed again (a new epoch, a new consumer from the
 * checkpoint), and once the bug is gone the command is applied, exactly once. The bug is injected at
 * the failpoint right after planning, with a real NATS and Postgres.
 */

const PARTITIONS = 1;
const MEMBER = 'member-assert';
const POT = 'pot-assert';

let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker | undefined;
let replies: Subscription | undefined;

beforeAll(async () => {
  db = await createTestDatabase('shardassert');
  nats = await createTestNats('assert');
});

afterAll(async () => {
  replies?.unsubscribe();
  await worker?.stop().catch(() => undefined);
  await nats?.cleanup();
  await db?.drop();
});

function command(process: string, payload: unknown): Command {
  return { commandId: `assert-${randomUUID()}`, process, memberId: MEMBER, potId: POT, payload, effectiveDate: EFFECTIVE_DATE, producedAt: '2026-11-22T09:00:00Z' };
}

async function count(sql: string, values: unknown[]): Promise<number> {
  const { rows } = await db.owner.query<{ n: string }>(sql, values);
  return Number(rows[0]?.n ?? 0);
}

async function epochOf(partition: number): Promise<bigint> {
  const { rows } = await db.owner.query<{ epoch: string }>('SELECT epoch::text FROM partition_owners WHERE partition = $1', [partition]);
  return BigInt(rows[0]?.epoch ?? '0');
}

describe('an internal assertion failure while a batch is planned', () => {
  it('commits nothing, stops and hands back the partition, and applies the command exactly once after the fault is cleared', async () => {
    const names = namesFor(nats.prefix);
    const partition = partitionOf(MEMBER, PARTITIONS);
    let faulty = false;
    let injected = 0;
    worker = testShardWorker({
      pool: db.service,
      nc: nats.nc,
      prefix: nats.prefix,
      partitionCount: PARTITIONS,
      ownership: { leaseTtlMs: 2000, tickMs: 250 },
      failpoint: (name) => {
        if (name !== 'after-plan-before-commit' || !faulty) return;
        injected += 1;
        throw new LedgerAssertionError(`injected in planning (${injected})`);
      },
    });
    await worker.start();

    const replySubject = `${nats.prefix}.reply.${randomUUID()}`;
    const notices: OutcomeNotice[] = [];
    replies = nats.nc.subscribe(replySubject, { callback: (_error, message) => void notices.push(message.json<OutcomeNotice>()) });
    const js = jetstream(nats.nc);
    const publish = async (c: Command) => {
      const headers = natsHeaders();
      headers.set(HEADER.reply, replySubject);
      return js.publish(names.commandSubject(partition), JSON.stringify(c), { msgID: c.commandId, headers });
    };
    const noticed = (c: Command) => notices.filter((n) => n.commandId === c.commandId);

    const open = command('pot.open', {});
    await publish(open);
    await waitFor('the pot is open', () => noticed(open).length > 0, { timeoutMs: 30_000 });
    const epochBefore = await epochOf(partition);

    // The bug is on: the deposit is planned, the planner's "assertion" fails, and the partition stops.
    faulty = true;
    const deposit = command('cash.deposit', { amount: '12.34', currency: 'GBP' });
    await publish(deposit);
    await waitFor('the partition crashed, was claimed again, and crashed again', async () => injected >= 2 && (await epochOf(partition)) > epochBefore, {
      timeoutMs: 30_000,
      describe: () => `injected ${injected} times`,
    });
    expect(await count('SELECT count(*)::text AS n FROM command_outcomes WHERE command_id = $1', [deposit.commandId])).toBe(0);
    expect(await count('SELECT count(*)::text AS n FROM movements WHERE command_id = $1', [deposit.commandId])).toBe(0);
    expect(await count('SELECT count(*)::text AS n FROM poison_messages', [])).toBe(0);
    expect(noticed(deposit)).toEqual([]);

    // The bug is gone: the next claim reads the deposit again and applies it, once.
    faulty = false;
    await waitFor('the deposit is answered', () => noticed(deposit).length > 0, { timeoutMs: 30_000, describe: () => `injected ${injected} times` });
    const [notice] = noticed(deposit);
    expect(notice).toMatchObject({ status: 'answered', replayed: false, outcome: { kind: 'applied' } });
    expect(await count('SELECT count(*)::text AS n FROM command_outcomes WHERE command_id = $1', [deposit.commandId])).toBe(1);
    expect(await count('SELECT count(*)::text AS n FROM movements WHERE command_id = $1', [deposit.commandId])).toBe(1);
    expect(await count('SELECT count(*)::text AS n FROM poison_messages', [])).toBe(0);
    const { rows } = await db.owner.query<{ balance_minor: string }>('SELECT balance_minor::text FROM balances WHERE account_id = $1', [`pot:${POT}:cash:GBP`]);
    expect(rows.map((row) => row.balance_minor)).toEqual(['1234']);
    expect(await epochOf(partition)).toBeGreaterThan(epochBefore);
  });
});
