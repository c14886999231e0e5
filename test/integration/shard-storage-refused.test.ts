import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPoison } from '../../src/journal/poison.js';
import { partitionOf, type Command } from '../../src/ledger/index.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { PoisonCode } from '../../src/shards/parse.js';
import { HEADER, names as namesFor } from '../../src/shards/names.js';
import { provisionStreams } from '../../src/shards/streams.js';
import type { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { EFFECTIVE_DATE, ledgerBalances, outcomeRows } from '../support/shard-checks.js';
import { testShardWorker } from '../support/shard-worker.js';
import { waitFor } from '../support/wait.js';
import { stringMatching } from '../support/matchers.js';

/*
 * A valid command that Postgres refuses to store. Its producedAt, "2026-11-22T09:00:00+20:00", is an ISO
 * 8601 instant the envelope accepts (zod, Date.parse), but Postgres's timestamptz refuses offsets beyond
 * ±15:59 (SQLSTATE 22009, a data error). Any publisher that does not stamp producedAt in UTC as the SDK
 * does can send one. The batch it is in fails; the shard narrows the failure down to that command, and
 * then must answer it (a recorded rejection, LEDGER_ERR_STORAGE_REFUSED) rather than leave its publisher
 * waiting, keep a poison record for operators, and apply the rest of the batch.
 */

const PARTITIONS = 1;
const MEMBER = 'member-refused';
const POT = 'pot-refused';
const REFUSED_PRODUCED_AT = '2026-11-22T09:00:00+20:00';
/** The command stream's dedupe window, cut so that a re-send reaches the worker within the test. */
const DUPLICATE_WINDOW_MS = 100;

let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker | undefined;
let replies: Subscription | undefined;

beforeAll(async () => {
  db = await createTestDatabase('storagerefused');
  nats = await createTestNats('refused');
});

afterAll(async () => {
  replies?.unsubscribe();
  await worker?.stop().catch(() => undefined);
  await nats?.cleanup();
  await db?.drop();
});

function command(process: string, payload: unknown, producedAt = '2026-11-22T09:00:00Z'): Command {
  return { commandId: `refused-${randomUUID()}`, process, memberId: MEMBER, potId: POT, payload, effectiveDate: EFFECTIVE_DATE, producedAt };
}

describe('a command Postgres refuses to store', () => {
  it('is answered with a recorded LEDGER_ERR_STORAGE_REFUSED rejection, kept as poison, and the rest of its batch applies', async () => {
    const names = namesFor(nats.prefix);
    await provisionStreams(nats.nc, names);
    const js = jetstream(nats.nc);
    const replySubject = `${nats.prefix}.reply.${randomUUID()}`;
    const notices: OutcomeNotice[] = [];
    replies = nats.nc.subscribe(replySubject, {
      callback: (_error, message) => {
        notices.push(message.json<OutcomeNotice>());
      },
    });
    const partition = partitionOf(MEMBER, PARTITIONS);
    const publish = async (c: Command) => {
      const headers = natsHeaders();
      headers.set(HEADER.reply, replySubject);
      return js.publish(names.commandSubject(partition), JSON.stringify(c), { msgID: c.commandId, headers });
    };

    const open = command('pot.open', {});
    const before = command('cash.deposit', { amount: '10.00', currency: 'GBP' });
    const refused = command('cash.deposit', { amount: '20.00', currency: 'GBP' }, REFUSED_PRODUCED_AT);
    const after = command('cash.deposit', { amount: '30.00', currency: 'GBP' });
    const commands = [open, before, refused, after];
    // All in the stream before the worker starts, so that they reach it as one batch.
    const refusedSeq = BigInt((await Promise.all(commands.map(publish)))[2]?.seq ?? 0);
    worker = testShardWorker({ pool: db.service, nc: nats.nc, prefix: nats.prefix, partitionCount: PARTITIONS });
    await worker.start();
    // After the worker provisioned the streams (which sets the default window).
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.update(names.commandStream, { duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000 });

    const noticeOf = (commandId: string, replayed: boolean) => notices.find((n) => n.commandId === commandId && n.replayed === replayed);
    await waitFor('an outcome notice for every command', () => commands.every((c) => noticeOf(c.commandId, false) !== undefined), {
      timeoutMs: 30_000,
      describe: () => `notices for ${JSON.stringify(notices.map((n) => n.commandId))}`,
    });
    const rejection = noticeOf(refused.commandId, false)?.outcome;
    expect(rejection).toMatchObject({ kind: 'rejected', code: 'LEDGER_ERR_STORAGE_REFUSED', details: { sqlState: '22009' } });
    expect((rejection as { reason: string }).reason).toMatch(/SQLSTATE 22009.*time zone displacement out of range/);
    expect([open, before, after].map((c) => (noticeOf(c.commandId, false)?.outcome as { kind: string }).kind)).toEqual(['applied', 'applied', 'applied']);

    // The other commands of the batch applied; the refused one did not.
    expect(await ledgerBalances(db.owner)).toMatchObject({ [`pot:${POT}:cash:GBP`]: '4000' });
    const rows = await outcomeRows(db.owner);
    expect(rows.get(refused.commandId)).toMatchObject({ status: 'rejected', rejectionCode: 'LEDGER_ERR_STORAGE_REFUSED', movementId: null });

    // Operators still find the message among the poison, with the SQLSTATE.
    const poison = (await listPoison(db.owner)).filter((p) => p.streamSeq === refusedSeq.toString());
    expect(poison).toHaveLength(1);
    expect(poison[0]).toMatchObject({ code: PoisonCode.storageRefused, reason: stringMatching(/SQLSTATE 22009/) });

    // A re-send (past JetStream's dedupe window, so that it reaches the worker) gets the same answer.
    const sentAt = Date.now();
    await waitFor('the dedupe window to pass', () => Date.now() - sentAt > 3 * DUPLICATE_WINDOW_MS);
    const resent = await publish(refused);
    expect(resent.duplicate).toBe(false);
    const replay = await waitFor('the re-sent command to be answered', () => noticeOf(refused.commandId, true), { timeoutMs: 30_000 });
    expect(replay.outcome).toEqual(rejection);
    expect(await ledgerBalances(db.owner)).toMatchObject({ [`pot:${POT}:cash:GBP`]: '4000' });
    expect((await jsm.streams.info(names.commandStream)).state.messages).toBe(commands.length + 1);
  });
});
