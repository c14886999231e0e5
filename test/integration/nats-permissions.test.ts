import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers as natsHeaders, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertConsumer } from '../../src/alerts/consumer.js';
import { alertRules } from '../../src/alerts/rules.js';
import { loadConfig } from '../../src/config/config.js';
import { natsConnectOptions } from '../../src/config/nats.js';
import { DEVELOPMENT_PASSWORDS, NATS_USERS, passwordVariable, renderAuthorization, type NatsUser } from '../../src/config/nats-permissions.js';
import { custodianNames } from '../../src/custodian/nats.js';
import { CustodianSimulator } from '../../src/custodian/simulator.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, partitionOf, PROCESSES } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { createShardMetrics } from '../../src/shards/metrics.js';
import { HEADER, names as namesFor } from '../../src/shards/names.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { makeCertificates, PrivateNats } from '../support/servers.js';
import { waitFor } from '../support/wait.js';

/**
 * The NATS users of src/config/nats-permissions.ts on a nats-server of the test's own, with the
 * rendered authorization block: each denial the issue names happens (nats.js reports it as a
 * PermissionViolationError, on the connection's status and on the request it refused), and the three
 * users together still run the ledger without a single violation.
 */

const PREFIX = 'ptestperm';
const PARTITIONS = 4;
const ledger = namesFor(PREFIX);
const custodian = custodianNames(PREFIX);
const assets = assetCatalog(DEFAULT_ASSETS);
/** How nats.js words a request the server refused to pass on (a RequestError whose cause is a PermissionViolationError). */
const PERMISSION_DENIED = /Permissions Violation for Publish/;

/** A connection as `user`, built the way the service builds it, and the permission violations it was told of. */
interface Login {
  readonly nc: NatsConnection;
  readonly violations: PermissionViolationError[];
}

async function login(nats: PrivateNats, user: NatsUser): Promise<Login> {
  const config = loadConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', NATS_URL: nats.url, NATS_USER: user, NATS_PASSWORD: DEVELOPMENT_PASSWORDS[user] });
  const nc = await connect(natsConnectOptions(config, `test-${user}`));
  const violations: PermissionViolationError[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'error' && status.error instanceof PermissionViolationError) violations.push(status.error);
  })();
  return { nc, violations };
}

/** Resolves with the violation of `operation` on `subject` once the server reported it. */
async function violation(who: Login, operation: 'publish' | 'subscription', subject: string): Promise<PermissionViolationError> {
  const found = await waitFor(`a ${operation} violation on ${subject}`, () => who.violations.find((v) => v.operation === operation && v.subject === subject), { timeoutMs: 5000 });
  return found;
}

describe('NATS users and their permissions (a nats-server of its own)', () => {
  let nats: PrivateNats;
  let db: TestDatabase;
  let publisher: Login;
  let worker: Login;
  let simulator: Login;
  let shardWorker: ShardWorker;
  let ledgerPublisher: LedgerPublisher;
  let alerts: AlertConsumer;
  let custodianSimulator: CustodianSimulator;

  beforeAll(async () => {
    for (const user of NATS_USERS) process.env[passwordVariable(user)] = DEVELOPMENT_PASSWORDS[user];
    nats = await PrivateNats.create({ label: 'permissions', config: renderAuthorization(PREFIX) });
    db = await createTestDatabase('nats_permissions');
    [publisher, worker, simulator] = await Promise.all([login(nats, 'publisher'), login(nats, 'worker'), login(nats, 'simulator')]);
    shardWorker = new ShardWorker({
      pool: db.service, nc: worker.nc, prefix: PREFIX, registry: ledgerProcesses, assets, partitionCount: PARTITIONS,
      metrics: createShardMetrics(), log: pino({ level: 'warn' }), ownership: { leaseTtlMs: 2000, tickMs: 400 },
    });
    await shardWorker.start();
    await waitFor('the worker to own every partition', () => shardWorker.ownedPartitions().length === PARTITIONS || undefined, { timeoutMs: 20_000 });
    alerts = new AlertConsumer({
      pool: db.service,
      nc: worker.nc,
      prefix: PREFIX,
      assets,
      rules: alertRules(loadConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused' }), assets),
      log: pino({ level: 'warn' }),
    });
    await alerts.start();
    custodianSimulator = await CustodianSimulator.start({ nc: simulator.nc, prefix: PREFIX, assets, closingPrice: () => Promise.resolve(undefined) });
    ledgerPublisher = await LedgerPublisher.connect({ nc: publisher.nc, prefix: PREFIX, registry: ledgerProcesses, partitionCount: PARTITIONS, provisionStreams: false });
  }, 60_000);

  afterAll(async () => {
    await custodianSimulator?.stop();
    await alerts?.stop();
    await shardWorker?.stop();
    await ledgerPublisher?.close();
    await Promise.all([publisher, worker, simulator].map((who) => who?.nc.close()));
    await db?.drop();
    await nats?.destroy();
  }, 30_000);

  it('lets the publisher send a command the worker applies, and hands the publisher its outcome, without a violation', async () => {
    const client = ledgerPublisher.methods(PROCESSES);
    const opened = await client.potOpen({ memberId: 'M-1', potId: 'P-1', payload: {} });
    expect((await opened.outcome(20_000)).outcome).toMatchObject({ kind: 'applied' });
    const deposit = await client.cashDeposit({ memberId: 'M-1', potId: 'P-1', payload: { amount: '12.34', currency: 'GBP' } });
    expect((await deposit.outcome(20_000)).outcome).toMatchObject({ kind: 'applied' });
    expect(await ledgerPublisher.lookup(deposit.commandId)).toMatchObject({ known: true });
    const { rows } = await db.service.query<{ balance_minor: bigint }>("SELECT balance_minor FROM balances WHERE account_id = 'pot:P-1:cash:GBP'");
    expect(rows[0]?.balance_minor).toBe(1234n);
    // The worker, its alert consumer, the simulator and the publisher did all they do within their rights.
    expect([...publisher.violations, ...worker.violations, ...simulator.violations].map((v) => v.message)).toEqual([]);
  }, 60_000);

  it('refuses a wrong password', async () => {
    await expect(connect({ servers: nats.url, user: 'worker', pass: 'not-the-password', reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: nats.url, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
  });

  describe('the publisher', () => {
    it('cannot subscribe to the command stream, nor consume it', async () => {
      publisher.nc.subscribe(`${PREFIX}.cmd.>`);
      await violation(publisher, 'subscription', `${PREFIX}.cmd.>`);
      const jsm = await jetstreamManager(publisher.nc);
      await expect(jsm.consumers.add(ledger.commandStream, { durable_name: 'thief', ack_policy: AckPolicy.Explicit })).rejects.toThrow(PERMISSION_DENIED);
      const mine = ledger.consumerName(0, 1n);
      await expect(jetstream(publisher.nc).consumers.get(ledger.commandStream, mine)).rejects.toThrow();
      publisher.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${ledger.commandStream}.${mine}`, JSON.stringify({ batch: 1 }), { reply: '_INBOX.publisher.steal' });
      await violation(publisher, 'publish', `$JS.API.CONSUMER.MSG.NEXT.${ledger.commandStream}.${mine}`);
    });

    it('cannot publish events', async () => {
      publisher.nc.publish(`${PREFIX}.evt.0`, '{}');
      await violation(publisher, 'publish', `${PREFIX}.evt.0`);
      await expect(jetstream(publisher.nc).publish(`${PREFIX}.evt.1`, '{}')).rejects.toThrow(PERMISSION_DENIED);
      const events = await jetstreamManager(worker.nc).then((jsm) => jsm.streams.info(ledger.eventStream, { subjects_filter: `${PREFIX}.evt.>` }));
      expect(events.state.subjects?.[`${PREFIX}.evt.0`] ?? 0).toBe(events.state.subjects?.[`${PREFIX}.evt.0`] ?? 0);
      expect(publisher.violations.some((v) => v.subject === `${PREFIX}.evt.1`)).toBe(true);
    });

    it('cannot touch the lease bucket', async () => {
      await expect(new Kvm(publisher.nc).open(ledger.leaseBucket).then((kv) => kv.put(ledger.leaseKey(0), 'mine'))).rejects.toThrow();
      publisher.nc.publish(`$KV.${ledger.leaseBucket}.${ledger.leaseKey(0)}`, 'mine');
      await violation(publisher, 'publish', `$KV.${ledger.leaseBucket}.${ledger.leaseKey(0)}`);
      const lease = await (await new Kvm(worker.nc).open(ledger.leaseBucket)).get(ledger.leaseKey(0));
      expect(lease?.string()).not.toBe('mine');
    });

    it('cannot delete a stream (nor can the worker)', async () => {
      for (const who of [publisher, worker]) {
        const jsm = await jetstreamManager(who.nc);
        await expect(jsm.streams.delete(ledger.commandStream)).rejects.toThrow(PERMISSION_DENIED);
      }
      expect((await (await jetstreamManager(worker.nc)).streams.info(ledger.commandStream)).config.name).toBe(ledger.commandStream);
    });
  });

  describe('the simulator', () => {
    it('cannot publish commands', async () => {
      simulator.nc.publish(`${PREFIX}.cmd.0`, '{}');
      await violation(simulator, 'publish', `${PREFIX}.cmd.0`);
      await expect(jetstream(simulator.nc).publish(`${PREFIX}.cmd.1`, '{}')).rejects.toThrow(PERMISSION_DENIED);
    });

    it('cannot read events', async () => {
      simulator.nc.subscribe(`${PREFIX}.evt.>`);
      await violation(simulator, 'subscription', `${PREFIX}.evt.>`);
      const ordered = jetstream(simulator.nc).consumers.get(ledger.eventStream).then((consumer) => consumer.next({ expires: 2000 }));
      await expect(ordered).rejects.toThrow(PERMISSION_DENIED);
      expect(simulator.violations.some((v) => v.subject.startsWith('$JS.API.') && v.subject.includes(ledger.eventStream))).toBe(true);
    });
  });

  describe('the worker', () => {
    it('cannot publish onto the custodian instruction subject', async () => {
      worker.nc.publish(custodian.instructionSubject, '{}');
      await violation(worker, 'publish', custodian.instructionSubject);
      await expect(jetstream(worker.nc).publish(custodian.instructionSubject, '{}')).rejects.toThrow(PERMISSION_DENIED);
      expect((await (await jetstreamManager(simulator.nc)).streams.info(custodian.stream)).state.messages).toBe(0);
    });

    it('applies a command whose Potledger-Reply names a command, event or custodian subject, and publishes nothing there', async () => {
      const jsm = await jetstreamManager(worker.nc);
      // A member of partition 1 or 2: its command and events land on neither cmd.3 nor evt.0.
      const member = Array.from({ length: 100 }, (_, i) => `M-forged-${i}`).find((m) => ![0, 3].includes(partitionOf(m, PARTITIONS))) ?? '';
      const count = async (stream: string, subject: string) => (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
      const before = { commands: await count(ledger.commandStream, ledger.commandSubject(3)), events: await count(ledger.eventStream, ledger.eventSubject(0)) };
      const forged = [ledger.commandSubject(3), ledger.eventSubject(0), custodian.instructionSubject];
      const commandIds: string[] = [];
      for (const [i, reply] of forged.entries()) {
        const commandId = `forged-reply-${i}`;
        commandIds.push(commandId);
        const command = {
          commandId,
          process: 'pot.open',
          memberId: member,
          potId: `${member}-pot-${i}`,
          payload: {},
          effectiveDate: '2026-06-01',
          producedAt: new Date().toISOString(),
        };
        const headers = natsHeaders();
        headers.set(HEADER.reply, reply);
        await jetstream(publisher.nc).publish(ledger.commandSubject(partitionOf(member, PARTITIONS)), JSON.stringify(command), { msgID: commandId, headers });
      }
      for (const commandId of commandIds) {
        const known = await waitFor(`${commandId} to apply`, async () => {
          const reply = await ledgerPublisher.lookup(commandId);
          return reply.known ? reply : undefined;
        }, { timeoutMs: 20_000 });
        expect(known).toMatchObject({ known: true, outcome: { kind: 'applied' } });
      }
      await worker.nc.flush();
      expect(await count(ledger.commandStream, ledger.commandSubject(3))).toBe(before.commands);
      expect(await count(ledger.eventStream, ledger.eventSubject(0))).toBe(before.events);
      expect((await (await jetstreamManager(simulator.nc)).streams.info(custodian.stream)).state.messages).toBe(0);
    }, 60_000);
  });
});

describe('NATS over TLS (a nats-server of its own, a throwaway CA)', () => {
  let nats: PrivateNats;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'potledger-tls-'));
    await makeCertificates(dir);
    nats = await PrivateNats.create({ label: 'tls', config: `tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}", timeout: 2 }` });
  }, 60_000);

  afterAll(async () => {
    await nats?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('connects with NATS_TLS_CA, verifying the server', async () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', NATS_URL: nats.url, NATS_TLS_CA: join(dir, 'ca.pem') });
    const nc = await connect(natsConnectOptions(config, 'test-tls'));
    expect(nc.info?.tls_required).toBe(true);
    await nc.flush();
    await nc.close();
  });

  it('refuses a client without the CA, and one with another CA', async () => {
    await expect(connect({ servers: nats.url, reconnect: false, timeout: 3000 })).rejects.toThrow();
    const other = join(dir, 'other');
    await makeCertificates(other);
    const config = loadConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', NATS_URL: nats.url, NATS_TLS_CA: join(other, 'ca.pem') });
    await expect(connect({ ...natsConnectOptions(config, 'test-tls-wrong-ca'), reconnect: false, timeout: 3000 })).rejects.toThrow();
  });
});
