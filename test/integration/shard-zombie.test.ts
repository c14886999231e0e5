import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/journal/database.js';
import { ledgerProcesses, partitionOf, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { createTestDatabase, ownerUrl, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import {
  EFFECTIVE_DATE,
  awaitOutcomes,
  commandOf,
  countOutcomes,
  ledgerBalances,
  money,
  outcomeMismatches,
  outcomeRows,
  partitionOwners,
  planSeed,
  referenceBalances,
  replayReference,
  seededRandom,
  submitInOrder,
  verifyBreaks,
} from '../support/shard-checks.js';
import { waitFor } from '../support/wait.js';
import { WorkerFleet, workerEnvironment, type WorkerProcess } from '../support/workers.js';
import { stringMatching } from '../support/matchers.js';

/*
 * Zombie test: worker A owns every partition; it is frozen (SIGSTOP) past its lease while commands for
 * it are on the way; worker B takes over and commits; A is thawed (SIGCONT) with those commands still in
 * its socket and its shards believing they own the partitions. A must commit nothing from then on under
 * its old ownership: it finds out (logs "fenced off" or "lease lost") and stops.
 *
 * Who committed what is taken from the database itself, not from the workers: A and B log in as
 * different roles, and test-only triggers record for every outcome the login that inserted it and the
 * epoch it committed under, and for every claim the login that made it. Fencing holds when each epoch's
 * commits come from the login that claimed that epoch, and no commit of an epoch is later than the
 * claim of the next one.
 */

const PARTITIONS = 4;
const LEASE_TTL_MS = 2000;
const POTS = 24;
const BATCH = 60;

const potIdOf = (pot: number): string => `pot-${pot}`;
const memberOf = (pot: number): string => `member-${pot}`;
const tag = randomBytes(3).toString('hex');
const ROLE_A = `ptz_${tag}_a`;
const ROLE_B = `ptz_${tag}_b`;

const AUDIT_SQL = `
  CREATE TABLE test_commit_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login name NOT NULL, partition integer, epoch bigint, command_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
  CREATE TABLE test_claim_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login name NOT NULL, partition integer NOT NULL, epoch bigint NOT NULL, worker_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
  CREATE FUNCTION test_audit_outcome() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
  BEGIN
    -- In the committing transaction, after its fence: the epoch the commit went through under.
    INSERT INTO test_commit_audit (login, partition, epoch, command_id)
    VALUES (session_user, NEW.partition, (SELECT epoch FROM partition_owners WHERE partition = NEW.partition), NEW.command_id);
    RETURN NULL;
  END $$;
  CREATE TRIGGER test_audit_outcome AFTER INSERT ON command_outcomes FOR EACH ROW EXECUTE FUNCTION test_audit_outcome();
  CREATE FUNCTION test_audit_claim() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
  BEGIN
    IF TG_OP = 'INSERT' OR NEW.epoch <> OLD.epoch THEN
      INSERT INTO test_claim_audit (login, partition, epoch, worker_id) VALUES (session_user, NEW.partition, NEW.epoch, NEW.worker_id);
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER test_audit_claim AFTER INSERT OR UPDATE ON partition_owners FOR EACH ROW EXECUTE FUNCTION test_audit_claim();
`;

let db: TestDatabase;
let nats: TestNats;
let fleet: WorkerFleet | undefined;
let publisher: LedgerPublisher | undefined;

beforeAll(async () => {
  db = await createTestDatabase('shardzombie');
  await db.owner.query(AUDIT_SQL);
  nats = await createTestNats('zombie');
  fleet = new WorkerFleet(workerEnvironment(db, nats.prefix, PARTITIONS, { leaseTtlMs: LEASE_TTL_MS }));
});

afterAll(async () => {
  await fleet?.killAll();
  await publisher?.close();
  await nats?.cleanup();
  await db?.drop();
  // The two login roles are cluster-wide: remove them once their database is gone.
  const admin = createPool(ownerUrl(), { max: 1 });
  for (const role of [ROLE_A, ROLE_B]) await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  await admin.end();
});

interface Commit {
  readonly login: string;
  readonly partition: number;
  readonly epoch: bigint;
  readonly commandId: string;
  readonly atMs: number;
}
interface Claim {
  readonly login: string;
  readonly partition: number;
  readonly epoch: bigint;
  readonly workerId: string;
  readonly atMs: number;
}

describe('a frozen worker that wakes up after losing its partitions', () => {
  it('commits nothing after the takeover, and the ledger stays right', async () => {
    const seed = planSeed('shard-zombie');
    const random = seededRandom(seed);
    const workers = fleet!;
    const published: Command[] = [];
    const outcomes = new Map<string, Promise<OutcomeNotice>>();
    let counter = 0;

    const a = await workers.start('A', { extra: { DATABASE_SERVICE_ROLE: ROLE_A } });
    await waitFor('A to own every partition', async () => {
      const owners = await partitionOwners(db.owner);
      return owners.size === PARTITIONS && [...owners.values()].every((owner) => owner.workerId === a.workerId);
    });
    publisher = await LedgerPublisher.connect({
      nc: nats.nc,
      prefix: nats.prefix,
      registry: ledgerProcesses,
      partitionCount: PARTITIONS,
      resendAfterMs: 1000,
      resendAfterMsMax: 3000,
      outcomeTimeoutMs: 40_000,
    });
    const publishBatch = async (size: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < size; i += 1) {
        const pot = Math.floor(random() * POTS);
        const process = random() < 0.6 ? 'cash.deposit' : 'cash.withdraw';
        const command = commandOf(process, {
          commandId: `zombie-${(counter += 1)}`,
          memberId: memberOf(pot),
          potId: potIdOf(pot),
          payload: { amount: money(1 + Math.floor(random() * 20_000)), currency: 'GBP' },
          effectiveDate: EFFECTIVE_DATE,
        });
        const submitted = await submitInOrder(publisher!, command);
        published.push(command);
        outcomes.set(command.commandId, submitted.outcome());
        ids.push(command.commandId);
      }
      return ids;
    };
    const settle = (ids: readonly string[]) => awaitOutcomes(new Map(ids.map((id) => [id, outcomes.get(id)!])));

    // A opens the pots and commits a first batch.
    const opens: string[] = [];
    for (let pot = 0; pot < POTS; pot += 1) {
      const command = commandOf('pot.open', { commandId: `zombie-open-${pot}`, memberId: memberOf(pot), potId: potIdOf(pot), payload: {}, effectiveDate: EFFECTIVE_DATE });
      const submitted = await submitInOrder(publisher, command);
      published.push(command);
      outcomes.set(command.commandId, submitted.outcome());
      opens.push(command.commandId);
    }
    await settle(opens);
    await settle(await publishBatch(BATCH));

    // A freezes, with commands on their way to it (its pull requests are still open).
    a.pause();
    await waitFor('A to be frozen', () => a.frozen());
    const whileFrozen = await publishBatch(BATCH);

    // B starts; once A's leases expired it claims every partition and commits.
    const b = await workers.start('B', { extra: { DATABASE_SERVICE_ROLE: ROLE_B } });
    await waitFor(
      'B to own every partition',
      async () => {
        const owners = await partitionOwners(db.owner);
        return owners.size === PARTITIONS && [...owners.values()].every((owner) => owner.workerId === b.workerId);
      },
      { timeoutMs: 20_000, describe: () => workers.tails(10) },
    );
    const takenOver = await partitionOwners(db.owner);
    await settle(whileFrozen);
    await settle(await publishBatch(BATCH));
    expect(await a.frozen()).toBe(true);
    expect([...(await partitionOwners(db.owner)).values()].map((owner) => owner.workerId)).toEqual(Array(PARTITIONS).fill(b.workerId));

    // A wakes up with stale shards (and stale messages in its socket). It must find out and stop.
    const outcomesBeforeThaw = await countOutcomes(db.owner);
    a.resume();
    const noticed = await a.waitForLog(/fenced off|lease lost/, 15_000);
    const afterThaw = await publishBatch(BATCH);
    await settle(afterThaw);
    // Let A's stale shards finish whatever they were doing: each one stops (fenced off, or released).
    await waitFor('every stale shard of A to stop', () => a.loggedAll(/partition released|fenced off/).length >= PARTITIONS, {
      timeoutMs: 15_000,
      describe: () => a.tail(20),
    });

    const commits = await auditedCommits();
    const claims = await auditedClaims();
    console.log(
      `[shard-zombie] A noticed: "${noticed.msg}"; A logged ${a.loggedAll('fenced off').length}× fenced off, ${a.loggedAll('lease lost').length}× lease lost; ` +
        `${outcomesBeforeThaw} outcomes before the thaw; commits by login: ${JSON.stringify(countBy(commits, (c) => c.login))}; ` +
        `owners now: ${[...(await partitionOwners(db.owner)).values()].map((o) => (o.workerId === a.workerId ? 'A' : o.workerId === b.workerId ? 'B' : o.workerId)).join(',')}`,
    );

    // Each commit came from the login that claimed its epoch, and before the next epoch was claimed.
    expect(fencingBreaks(commits, claims)).toEqual([]);
    // A made no commit under its old epochs once B had claimed the partition.
    const bClaims = new Map(claims.filter((c) => c.login === ROLE_B).map((c) => [c.partition, c] as const));
    const late = commits.filter((c) => c.login === ROLE_A && c.epoch < (takenOver.get(c.partition)?.epoch ?? 0n) && c.atMs >= (bClaims.get(c.partition)?.atMs ?? Infinity));
    expect(late).toEqual([]);
    // What was sent while A was frozen, and after B took over, B committed.
    const byCommand = new Map(commits.map((c) => [c.commandId, c.login]));
    expect(whileFrozen.filter((id) => byCommand.get(id) !== ROLE_B)).toEqual([]);
    // If A owns partitions again, it won them anew (a new epoch above B's), never with its old one.
    for (const [partition, owner] of await partitionOwners(db.owner)) {
      if (owner.workerId === a.workerId) expect(owner.epoch).toBeGreaterThan(takenOver.get(partition)?.epoch ?? 0n);
    }

    // And the ledger is right: one outcome per command, the reference's balances, verify.
    const ids = published.map((c) => c.commandId);
    expect(await countOutcomes(db.owner, ids)).toBe(ids.length);
    const rows = await outcomeRows(db.owner);
    expect(rows.size).toBe(ids.length);
    expect(commits).toHaveLength(ids.length);
    const reference = replayReference(published, rows, PARTITIONS);
    expect(outcomeMismatches(reference, rows)).toEqual([]);
    expect(await ledgerBalances(db.owner)).toEqual(referenceBalances(reference));
    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });
    expectAlive(a, b);
  });
});

async function auditedCommits(): Promise<Commit[]> {
  const { rows } = await db.owner.query<{ login: string; partition: number; epoch: bigint; command_id: string; at_ms: string }>(
    'SELECT login, partition, epoch, command_id, extract(epoch FROM at) * 1000 AS at_ms FROM test_commit_audit ORDER BY id',
  );
  return rows.map((r) => ({ login: r.login, partition: r.partition, epoch: r.epoch, commandId: r.command_id, atMs: Number(r.at_ms) }));
}

async function auditedClaims(): Promise<Claim[]> {
  const { rows } = await db.owner.query<{ login: string; partition: number; epoch: bigint; worker_id: string; at_ms: string }>(
    'SELECT login, partition, epoch, worker_id, extract(epoch FROM at) * 1000 AS at_ms FROM test_claim_audit ORDER BY id',
  );
  return rows.map((r) => ({ login: r.login, partition: r.partition, epoch: r.epoch, workerId: r.worker_id, atMs: Number(r.at_ms) }));
}

/** Commits that break fencing: under an epoch another login claimed, or later than the next epoch's claim. */
function fencingBreaks(commits: readonly Commit[], claims: readonly Claim[]): string[] {
  const claimOf = new Map(claims.map((c) => [`${c.partition}/${c.epoch}`, c]));
  const breaks: string[] = [];
  for (const commit of commits) {
    const claim = claimOf.get(`${commit.partition}/${commit.epoch}`);
    const next = claimOf.get(`${commit.partition}/${commit.epoch + 1n}`);
    if (claim === undefined) breaks.push(`${commit.commandId}: epoch ${commit.epoch} of partition ${commit.partition} was never claimed`);
    else if (claim.login !== commit.login) breaks.push(`${commit.commandId}: committed by ${commit.login} under epoch ${commit.epoch}, claimed by ${claim.login}`);
    if (next !== undefined && commit.atMs > next.atMs) breaks.push(`${commit.commandId}: committed under epoch ${commit.epoch} after epoch ${next.epoch} was claimed`);
  }
  return breaks;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function expectAlive(...workers: WorkerProcess[]): void {
  for (const worker of workers) expect(worker.alive, `${worker.label} is still running`).toBe(true);
}

/*
 * The same freeze, but in the middle of a group commit: the frozen worker's transaction has passed its
 * fence (it holds the partition_owners row lock) and cannot finish. The new owner's claim
 * (`UPDATE partition_owners … epoch + 1`) waits for that lock, with no time limit, so the partition
 * cannot be taken over for as long as the freeze lasts (or, after a network cut, until Postgres notices
 * the dead connection). The claim runs inside the new owner's ownership tick, so that worker stops
 * taking (and renewing) every other partition meanwhile: here partition 1, which nothing blocks.
 *
 * To freeze A exactly there, the test holds a lock A's commit needs after its fence (EXCLUSIVE on
 * entries), freezes A while it waits, then lets the lock go.
 */
describe('a worker frozen in the middle of a commit', () => {
  const FROZEN_PARTITIONS = 2;
  let frozenDb: TestDatabase | undefined;
  let frozenNats: TestNats | undefined;
  let frozenFleet: WorkerFleet | undefined;
  let frozenPublisher: LedgerPublisher | undefined;

  afterAll(async () => {
    await frozenFleet?.killAll();
    await frozenPublisher?.close();
    await frozenNats?.cleanup();
    await frozenDb?.drop();
  });

  it('does not keep its partitions from being taken over', async () => {
    const fdb = (frozenDb = await createTestDatabase('shardfrozen'));
    const fnats = (frozenNats = await createTestNats('frozen'));
    const workers = (frozenFleet = new WorkerFleet(workerEnvironment(fdb, fnats.prefix, FROZEN_PARTITIONS, { leaseTtlMs: LEASE_TTL_MS })));
    const publisher = (frozenPublisher = await LedgerPublisher.connect({
      nc: fnats.nc,
      prefix: fnats.prefix,
      registry: ledgerProcesses,
      partitionCount: FROZEN_PARTITIONS,
      resendAfterMs: 1000,
      outcomeTimeoutMs: 20_000,
    }));
    const a = await workers.start('A');
    await waitFor('A to own both partitions', async () => {
      const owners = await partitionOwners(fdb.owner);
      return owners.size === FROZEN_PARTITIONS && [...owners.values()].every((owner) => owner.workerId === a.workerId);
    });
    // A member of partition 0 (the partition B tries first).
    const member = Array.from({ length: 100 }, (_, i) => `member-frozen-${i}`).find((m) => partitionOf(m, FROZEN_PARTITIONS) === 0) ?? '';
    const open = await publisher.submit('pot.open', { memberId: member, potId: 'pot-frozen', payload: {}, effectiveDate: EFFECTIVE_DATE });
    await open.outcome();

    // A's next commit will wait, after its fence, for the lock the test holds on entries.
    const locker = await fdb.owner.connect();
    let lockHeld = true;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE entries IN EXCLUSIVE MODE');
      await publisher.submit('cash.deposit', { memberId: member, potId: 'pot-frozen', payload: { amount: '5.00', currency: 'GBP' }, effectiveDate: EFFECTIVE_DATE });
      await waitFor('A to wait for the entries lock inside its commit', async () => {
        const { rows } = await fdb.owner.query<{ n: bigint }>(
          `SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE NOT l.granted AND c.relname = 'entries' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        return (rows[0]?.n ?? 0n) > 0n;
      });
      a.pause();
      await waitFor('A to be frozen', () => a.frozen());
      await locker.query('COMMIT');
      lockHeld = false;
    } finally {
      if (lockHeld) await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
    // A's transaction is now open and idle, holding partition 0's row lock, and A cannot finish it.
    await waitFor('A to hold an open transaction', async () => {
      const { rows } = await fdb.owner.query<{ n: bigint }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
      );
      return (rows[0]?.n ?? 0n) > 0n;
    });

    // B starts; A's leases expire after 2 s. B should own both partitions well within 10 s.
    const b = await workers.start('B');
    const startedAt = Date.now();
    const takenOver = await waitFor(
      'B to own both partitions',
      async () => {
        const owners = await partitionOwners(fdb.owner);
        return [...owners.values()].filter((owner) => owner.workerId === b.workerId).length === FROZEN_PARTITIONS;
      },
      { timeoutMs: 10_000 },
    ).then(
      () => `taken over in ${Date.now() - startedAt} ms`,
      () => 'not taken over within 10 s',
    );
    const nameOf = (workerId: string) => (workerId === a.workerId ? 'A' : workerId === b.workerId ? 'B' : workerId);
    const owners = [...(await partitionOwners(fdb.owner)).entries()].map(([partition, owner]) => `p${partition}=${nameOf(owner.workerId)}`);
    const { rows: waiting } = await fdb.owner.query<{ query: string }>(
      "SELECT left(query, 60) AS query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    console.log(`[shard-zombie] frozen mid-commit: ${takenOver}; owners ${owners.join(' ')}; sessions waiting for a lock: ${JSON.stringify(waiting.map((w) => w.query))}`);
    expect({ takenOver, owners }).toEqual({ takenOver: stringMatching(/^taken over in/), owners: ['p0=B', 'p1=B'] });
  });
});
