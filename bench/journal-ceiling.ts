import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { chain, latestHashes } from '../src/journal/chain.js';
import { findOutcomes, type CommitItem } from '../src/journal/store.js';
import {
  commandFingerprint,
  ledgerProcesses,
  parseAccountId,
  postEntries,
  run,
  type AccountId,
  type AssetCatalog,
  type Command,
  type Movement,
  type PotState,
} from '../src/ledger/index.js';
import { claimPartition, commitShardBatches, type Claim, type ShardBatch } from '../src/shards/fence.js';
import type { BenchDatabase } from './support.js';

/** The connections the baselines use: the schema owner's (set-up) and the service role's (the work). */
export type BaselineDatabase = Pick<BenchDatabase, 'owner' | 'service'>;

/**
 * The two Postgres baselines of the throughput benchmark, over the pots and commands of its measured
 * run, run after the worker has stopped:
 *
 * - the journal ceiling (`journalCeiling`): the worker's own commit path without NATS and without
 *   planning: per group, the outcome look-up of its commands (`findOutcomes`), then
 *   `commitShardBatches` (the fence on every partition of the group, then `commitItems`: movements with
 *   their hash chain, entries, balances, partition totals, outcomes), in batches of the worker's
 *   `commitBatchMax` per partition, groups of at most its `groupItemsMax` items, and its
 *   `groupConcurrency` transactions at once, a partition's batches committed in order;
 * - the physical floor (`physicalFloor`): the same rows written with `COPY … FROM STDIN`, one
 *   transaction per group of the same size, on one connection.
 *
 * Both leave out planning: every movement is planned by the pure core before the clock starts.
 */

/** The commit limits the measured run's worker had. */
export interface CommitLimits {
  readonly commitBatchMax: number;
  readonly groupItemsMax: number;
  readonly groupConcurrency: number;
}

/** A command as the benchmark publishes it. */
export interface BenchRequest {
  readonly process: string;
  readonly memberId: string;
  readonly potId: string;
  readonly payload: unknown;
}

/** What the ledger holds after the measured run, carried forward in memory as movements are planned. */
export interface LedgerState {
  readonly pots: Map<string, PotState>;
  readonly balances: Map<AccountId, bigint>;
  readonly versions: Map<AccountId, bigint>;
}

/** Reads every pot and every balance (pots' and system accounts') with their versions. */
export async function readLedgerState(db: BaselineDatabase): Promise<LedgerState> {
  const pots = await db.owner.query<{ pot_id: string; member_id: string; status: 'open' | 'closed' }>('SELECT pot_id, member_id, status FROM pots');
  const accounts = await db.owner.query<{ account_id: string; balance_minor: bigint; version: bigint }>('SELECT account_id, balance_minor, version FROM balances');
  return {
    pots: new Map(pots.rows.map((row) => [row.pot_id, { potId: row.pot_id, memberId: row.member_id, status: row.status }])),
    balances: new Map(accounts.rows.map((row) => [row.account_id, row.balance_minor])),
    versions: new Map(accounts.rows.map((row) => [row.account_id, row.version])),
  };
}

/**
 * Plans every request with the pure core (as a pot actor would) from `state`, which it advances: the
 * items `commitItems` takes, in request order. A rejection is a mistake of the benchmark and throws.
 */
export function planRequests(requests: readonly BenchRequest[], state: LedgerState, assets: AssetCatalog, partitionCount: number, label: string): CommitItem[] {
  const producedAt = new Date().toISOString();
  const effectiveDate = producedAt.slice(0, 10);
  return requests.map((request, index) => {
    const command: Command = { ...request, commandId: `${label}-${index}-${randomUUID()}`, effectiveDate, producedAt };
    const pot = state.pots.get(request.potId);
    const outcome = run(ledgerProcesses, command, { pot, balances: state.balances, movements: new Map() }, { assets, partitionCount, movementId: randomUUID() });
    if (outcome.kind === 'rejected') throw new Error(`${label}: ${command.process} for ${command.potId} was rejected: ${outcome.reason}`);
    const posted = postEntries(outcome.movement.entries, state.balances, state.versions);
    for (const posting of posted.postings) {
      state.balances.set(posting.account, posting.balanceAfterMinor);
      state.versions.set(posting.account, posting.accountVersion);
    }
    return { command, fingerprint: commandFingerprint(command), partition: outcome.movement.partition, outcome, postings: posted.postings };
  });
}

/** One group commit: at most one batch per partition, at most `groupItemsMax` items. */
export interface Group<T extends { readonly partition: number } = CommitItem> {
  readonly batches: readonly { readonly partition: number; readonly items: readonly T[] }[];
  /** Indexes of the earlier groups that hold this group's partitions' previous batches. */
  readonly after: readonly number[];
}

/**
 * Cuts the items as the worker would under full load: each partition's items in batches of
 * `commitBatchMax`, taken round by round over the partitions (every partition's first batch, then
 * every second batch, …), packed into groups of at most `groupItemsMax` items with one batch per
 * partition; a group waits for the groups that hold its partitions' earlier batches.
 */
export function groupAsTheWorker<T extends { readonly partition: number }>(items: readonly T[], limits: Omit<CommitLimits, 'groupConcurrency'>): Group<T>[] {
  const perPartition = new Map<number, T[][]>();
  for (const item of items) {
    const batches = perPartition.get(item.partition) ?? [[]];
    perPartition.set(item.partition, batches);
    let last = batches[batches.length - 1] ?? [];
    if (last.length >= limits.commitBatchMax) {
      last = [];
      batches.push(last);
    }
    last.push(item);
  }
  const rounds = Math.max(0, ...[...perPartition.values()].map((batches) => batches.length));
  const ordered: { partition: number; items: T[] }[] = [];
  for (let round = 0; round < rounds; round += 1) {
    for (const [partition, batches] of perPartition) {
      const batch = batches[round];
      if (batch !== undefined) ordered.push({ partition, items: batch });
    }
  }
  const groups: Group<T>[] = [];
  const lastGroupOf = new Map<number, number>();
  let current: { partition: number; items: T[] }[] = [];
  let size = 0;
  const close = () => {
    if (current.length === 0) return;
    const index = groups.length;
    const after = [...new Set(current.flatMap((batch) => lastGroupOf.get(batch.partition) ?? []))];
    for (const batch of current) lastGroupOf.set(batch.partition, index);
    groups.push({ batches: current, after });
    current = [];
    size = 0;
  };
  for (const batch of ordered) {
    const full = size + batch.items.length > limits.groupItemsMax;
    if (current.length > 0 && (full || current.some((other) => other.partition === batch.partition))) close();
    current.push(batch);
    size += batch.items.length;
  }
  close();
  return groups;
}

/** What the journal ceiling leaves out of the measured run's work (the JSON's `pgCeilingLeavesOut`). */
export const CEILING_LEAVES_OUT =
  'planning (done before the clock starts); NATS (consuming, acks, events, outcome notices); ' +
  'pot look-ups (the pots are warm in the measured run too)';

/** What the physical floor leaves out (the JSON's `physicalFloorLeavesOut`). */
export const FLOOR_LEAVES_OUT =
  "planning; NATS; the outcome look-ups, the fence and the hash chain's reads; the merge of balances and partition totals " +
  '(their rows are appended with COPY to tables of the same columns without indexes); concurrency (one connection)';

/** A baseline's result: movements per second and the transactions it took. */
export interface Baseline {
  readonly movementsPerSec: number;
  readonly transactions: number;
}

/**
 * The journal ceiling: claims every partition (as a new owner would: the epoch goes up), then commits
 * the groups with the worker's concurrency, each after its outcome look-up, and times it all.
 */
export async function journalCeiling(db: BaselineDatabase, items: readonly CommitItem[], limits: CommitLimits, assets: AssetCatalog): Promise<Baseline> {
  const groups = groupAsTheWorker(items, limits);
  const claims = new Map<number, Claim>();
  for (const partition of new Set(items.map((item) => item.partition))) claims.set(partition, await claimPartition(db.service, partition, 'bench-journal-ceiling'));
  const committed = groups.map(() => deferred());
  let next = 0;
  const started = performance.now();
  const lanes = Array.from({ length: limits.groupConcurrency }, async () => {
    while (next < groups.length) {
      const index = next;
      next += 1;
      const group = groups[index];
      if (group === undefined) break;
      await Promise.all(group.after.flatMap((earlier) => committed[earlier]?.promise ?? []));
      await commitGroup(db.service, group, claims, assets);
      committed[index]?.resolve();
    }
  });
  await Promise.all(lanes);
  return { movementsPerSec: (items.length * 1000) / (performance.now() - started), transactions: groups.length };
}

async function commitGroup(pool: pg.Pool, group: Group, claims: ReadonlyMap<number, Claim>, assets: AssetCatalog): Promise<void> {
  const commandIds = group.batches.flatMap((batch) => batch.items.map((item) => item.command.commandId));
  const known = await findOutcomes(pool, commandIds, assets);
  if (known.size > 0) throw new Error(`journal ceiling: ${known.size} commands already had an outcome`);
  const batches: ShardBatch[] = group.batches.map(({ partition, items }) => {
    const claim = claims.get(partition);
    if (claim === undefined) throw new Error(`journal ceiling: partition ${partition} was not claimed`);
    return {
      partition,
      epoch: claim.epoch,
      items,
      poison: [],
      checkpointSeq: claim.checkpointSeq,
      checkpointMessageId: claim.checkpointMessageId,
      eventsThroughSeq: claim.eventsThroughSeq,
    };
  });
  await commitShardBatches(pool, batches, assets);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Tables that take the rows `commitItems` upserts (a COPY cannot update): same columns, no indexes. */
const FLOOR_BALANCES = 'bench_floor_balances';
const FLOOR_PARTITION_TOTALS = 'bench_floor_partition_totals';

/** One group's rows as COPY text, one string per table (rendered before the clock starts). */
interface CopyGroup {
  readonly movements: string;
  readonly entries: string;
  readonly outcomes: string;
  readonly balances: string;
  readonly partitionTotals: string;
}

const COPY_STATEMENTS: Readonly<Record<keyof CopyGroup, string>> = {
  movements: `COPY movements (movement_id, command_id, process, process_version, member_id, pot_id, partition, effective_date, corrected,
                              pot_change, reverses, order_change, prev_hash, hash) FROM STDIN`,
  entries: 'COPY entries (movement_id, entry_index, side, account_id, asset, amount_minor, balance_after_minor, account_version) FROM STDIN',
  outcomes: `COPY command_outcomes (command_id, fingerprint, process, member_id, pot_id, partition, status, movement_id, rejection_code,
                                    outcome, stream_seq, principal, source, produced_at) FROM STDIN`,
  balances: `COPY ${FLOOR_BALANCES} (account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id) FROM STDIN`,
  partitionTotals: `COPY ${FLOOR_PARTITION_TOTALS} (partition, kind, asset, balance_minor) FROM STDIN`,
};

/**
 * The physical floor: the rows `commitItems` would write for `items` (movements with their hash
 * chain, entry sides, the balance and partition-total rows of each group, outcomes) written with COPY,
 * one transaction per group of the ceiling's sizes, on one connection. Movements, entries and
 * outcomes go into the journal's own tables (their indexes and constraints included); the balance and
 * partition-total rows, which the journal upserts, are appended to tables of the same columns without
 * indexes. Leaves out planning, the fence, the look-ups (outcomes, and the latest hashes of the
 * chain), and the merge of balances and totals.
 */
export async function physicalFloor(db: BaselineDatabase, items: readonly CommitItem[], limits: CommitLimits): Promise<Baseline> {
  await db.owner.query(`CREATE TABLE ${FLOOR_BALANCES} (LIKE balances INCLUDING DEFAULTS)`);
  await db.owner.query(`CREATE TABLE ${FLOOR_PARTITION_TOTALS} (LIKE partition_totals INCLUDING DEFAULTS)`);
  await db.owner.query(`GRANT INSERT ON ${FLOOR_BALANCES}, ${FLOOR_PARTITION_TOTALS} TO potledger_service`);
  const movements = items.map(movementOf);
  const hashes = chain(movements, await latestHashes(db.owner, [...new Set(movements.map((m) => m.potId))]));
  const hashOf = new Map(movements.map((movement, index) => [movement.movementId, hashes[index]]));
  const groups = groupAsTheWorker(items, limits).map((group) => copyRows(group.batches.flatMap((batch) => batch.items), hashOf));
  const client = await db.service.connect();
  try {
    const started = performance.now();
    for (const group of groups) {
      await client.query('BEGIN');
      for (const table of Object.keys(COPY_STATEMENTS) as (keyof CopyGroup)[]) {
        await pipeline(Readable.from([group[table]]), client.query(copyFrom(COPY_STATEMENTS[table])));
      }
      await client.query('COMMIT');
    }
    return { movementsPerSec: (items.length * 1000) / (performance.now() - started), transactions: groups.length };
  } finally {
    client.release();
  }
}

function movementOf(item: CommitItem): Movement {
  if (item.outcome.kind !== 'applied') throw new Error(`physical floor: ${item.command.commandId} was ${item.outcome.kind}; the floor writes plain applications only`);
  return item.outcome.movement;
}

/** One group's rows, as `commitItems` would write them, in COPY's text format. */
function copyRows(items: readonly CommitItem[], hashOf: ReadonlyMap<string, { previous: string; hash: string } | undefined>): CopyGroup {
  const movements: string[] = [];
  const entries: string[] = [];
  const outcomes: string[] = [];
  const latest = new Map<string, { item: CommitItem; posting: CommitItem['postings'][number] }>();
  const totals = new Map<string, { partition: number; kind: string; asset: string; deltaMinor: bigint }>();
  for (const item of items) {
    const movement = movementOf(item);
    const hash = hashOf.get(movement.movementId);
    if (hash === undefined) throw new Error(`physical floor: no hash for ${movement.movementId}`);
    const { command } = item;
    movements.push(copyLine([movement.movementId, movement.commandId, movement.process, movement.processVersion, movement.memberId, movement.potId, movement.partition,
      movement.effectiveDate, false, null, null, null, hash.previous, hash.hash]));
    outcomes.push(copyLine([command.commandId, item.fingerprint, command.process, command.memberId, command.potId, item.partition, 'applied', movement.movementId,
      null, null, null, null, null, command.producedAt]));
    for (const posting of item.postings) {
      entries.push(copyLine([
        movement.movementId,
        posting.entryIndex,
        posting.side,
        posting.account,
        posting.asset,
        posting.amountMinor,
        posting.balanceAfterMinor,
        posting.accountVersion,
      ]));
      latest.set(posting.account, { item, posting });
      addToTotal(totals, item.partition, posting);
    }
  }
  const balances = [...latest.values()].map(({ item, posting }) => {
    const ref = parseAccountId(posting.account);
    if (ref === undefined) throw new Error(`physical floor: ${posting.account} is not an account id`);
    return copyLine([posting.account, ref.owner.type, ref.owner.type === 'pot' ? ref.owner.potId : null, ref.owner.type === 'system' ? ref.owner.partition : null,
      ref.kind, ref.asset, posting.balanceAfterMinor, posting.accountVersion, movementOf(item).movementId]);
  });
  const partitionTotals = [...totals.values()].map((total) => copyLine([total.partition, total.kind, total.asset, total.deltaMinor]));
  return { movements: movements.join(''), entries: entries.join(''), outcomes: outcomes.join(''), balances: balances.join(''), partitionTotals: partitionTotals.join('') };
}

/** Adds a posting's signed amount (debit +, credit −) to its partition's total, as `commitItems` does. */
function addToTotal(
  totals: Map<string, { partition: number; kind: string; asset: string; deltaMinor: bigint }>,
  itemPartition: number,
  posting: CommitItem['postings'][number],
): void {
  const ref = parseAccountId(posting.account);
  if (ref === undefined) throw new Error(`physical floor: ${posting.account} is not an account id`);
  const partition = ref.owner.type === 'system' ? ref.owner.partition : itemPartition;
  const key = `${partition}|${ref.kind}|${ref.asset}`;
  const signed = posting.side === 'debit' ? posting.amountMinor : -posting.amountMinor;
  const total = totals.get(key);
  if (total === undefined) totals.set(key, { partition, kind: ref.kind, asset: ref.asset, deltaMinor: signed });
  else total.deltaMinor += signed;
}

/** One row in COPY's text format: tab-separated, \N for NULL, backslash escapes. */
function copyLine(values: readonly (string | number | bigint | boolean | null)[]): string {
  return `${values.map(copyField).join('\t')}\n`;
}

function copyField(value: string | number | bigint | boolean | null): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  return String(value).replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r');
}
