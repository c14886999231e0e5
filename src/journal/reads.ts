import { ACCOUNT_KINDS, ENTRIES_PER_MOVEMENT_MAX, formatAmount, movementToWire, type AssetCatalog, type WireMovement } from '../ledger/index.js';
import { checkPageSize, limitOver, rowsWithin } from './row-limits.js';
import { POT_ACCOUNTS_MAX, readMovements, type Queryable } from './store.js';

/**
 * The ledger's read side for the API and the operator CLI: balances now and at a closed business day,
 * statements, single movements and the Trust's balance sheet. Every amount leaves here as a decimal
 * string in its asset's units, formatted with the asset's scale (exact, no rounding).
 */

/**
 * The most lines one page of a statement or an audit trail returns: the API's largest page
 * (STATEMENT_LIMIT_MAX in src/api/schemas.ts, and the audit route's limit), so that a page is answered
 * from one bounded query.
 */
export const PAGE_LINES_MAX = 500;
/** The most pots one member holds: a member has a handful; far more is a runaway, refused rather than listed. */
export const MEMBER_POTS_MAX = 1_000;
/**
 * The most lines of the balance sheet: one per account kind and asset, so the catalogue's size (every
 * fund, currency and pool, times a few dozen kinds) with room to spare.
 */
export const BALANCE_SHEET_LINES_MAX = 100_000;

export interface AccountBalance {
  readonly account: string;
  readonly kind: string;
  readonly asset: string;
  /** Decimal string in the asset's units. */
  readonly balance: string;
  readonly version: string;
}

function formatFor(assets: AssetCatalog, asset: string, minor: bigint): string {
  const scale = assets.find(asset)?.scale;
  // An asset the catalogue does not know cannot be formatted; show minor units, named as such.
  return scale === undefined ? `${minor.toString()} (minor units)` : formatAmount(minor, scale);
}

export interface PotRecord {
  readonly potId: string;
  readonly memberId: string;
  readonly partition: number;
  readonly status: 'open' | 'closed';
}

export async function findPot(db: Queryable, potId: string): Promise<PotRecord | undefined> {
  const { rows } = await db.query<{ pot_id: string; member_id: string; partition: number; status: 'open' | 'closed' }>(
    'SELECT pot_id, member_id, partition, status FROM pots WHERE pot_id = $1',
    [potId],
  );
  const row = rows[0];
  return row === undefined ? undefined : { potId: row.pot_id, memberId: row.member_id, partition: row.partition, status: row.status };
}

export async function potsOfMember(db: Queryable, memberId: string): Promise<PotRecord[]> {
  const { rows } = await db.query<{ pot_id: string; member_id: string; partition: number; status: 'open' | 'closed' }>(
    `SELECT pot_id, member_id, partition, status FROM pots WHERE member_id = $1 ORDER BY pot_id ${limitOver(MEMBER_POTS_MAX)}`,
    [memberId],
  );
  return rowsWithin(rows, MEMBER_POTS_MAX, `potsOfMember ${memberId}`).map((row) => ({ potId: row.pot_id, memberId: row.member_id, partition: row.partition, status: row.status }));
}

/** A pot's balances as committed now. */
export async function potBalancesNow(db: Queryable, potId: string, assets: AssetCatalog): Promise<AccountBalance[]> {
  const { rows } = await db.query<{ account_id: string; kind: string; asset: string; balance_minor: bigint; version: bigint }>(
    `SELECT account_id, kind, asset, balance_minor, version FROM balances WHERE pot_id = $1 ORDER BY account_id ${limitOver(POT_ACCOUNTS_MAX)}`,
    [potId],
  );
  return rowsWithin(rows, POT_ACCOUNTS_MAX, `potBalancesNow ${potId}`).map((row) => ({
    account: row.account_id,
    kind: row.kind,
    asset: row.asset,
    balance: formatFor(assets, row.asset, row.balance_minor),
    version: row.version.toString(),
  }));
}

export async function isBusinessDayClosed(db: Queryable, businessDate: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM business_days_closed WHERE business_date = $1::date', [businessDate]);
  return (rowCount ?? 0) > 0;
}

/**
 * A pot's balances at the close of a closed business day, from the end-of-day snapshots (one indexed
 * look-up per account, never a replay). An account with no snapshot by then did not exist yet.
 */
export async function potBalancesAtClose(db: Queryable, potId: string, businessDate: string, assets: AssetCatalog): Promise<AccountBalance[]> {
  const { rows } = await db.query<{ account_id: string; kind: string; asset: string; balance_minor: bigint; version: bigint }>(
    `SELECT b.account_id, b.kind, b.asset, d.balance_minor, d.version
       FROM balances b
       JOIN LATERAL (SELECT d.balance_minor, d.version FROM balances_eod d
                      WHERE d.account_id = b.account_id AND d.business_date <= $2::date
                      ORDER BY d.business_date DESC LIMIT 1) d ON true
      WHERE b.pot_id = $1
      ORDER BY b.account_id ${limitOver(POT_ACCOUNTS_MAX)}`,
    [potId, businessDate],
  );
  return rowsWithin(rows, POT_ACCOUNTS_MAX, `potBalancesAtClose ${potId}`).map((row) => ({
    account: row.account_id,
    kind: row.kind,
    asset: row.asset,
    balance: formatFor(assets, row.asset, row.balance_minor),
    version: row.version.toString(),
  }));
}

export interface StatementLine {
  readonly seq: string;
  readonly committedAt: string;
  readonly corrected: boolean;
  readonly movement: WireMovement;
}

export interface StatementPage {
  readonly lines: readonly StatementLine[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

/**
 * A pot's movements with effective dates in [from, to], in commit order, a page at a time. The cursor
 * is the journal sequence of the last line returned, so pages never skip or repeat a movement even
 * while new ones are committed.
 */
export async function potStatement(
  db: Queryable,
  query: { potId: string; from: string; to: string; afterSeq: bigint; limit: number },
  assets: AssetCatalog,
): Promise<StatementPage> {
  checkPageSize(query.limit, PAGE_LINES_MAX, 'potStatement');
  const { rows } = await db.query<{ movement_id: string; seq: bigint; committed_at: Date; corrected: boolean }>(
    `SELECT movement_id, seq, committed_at, corrected FROM movements
      WHERE pot_id = $1 AND seq > $2 AND effective_date BETWEEN $3::date AND $4::date
      ORDER BY seq LIMIT $5`,
    [query.potId, query.afterSeq.toString(), query.from, query.to, query.limit + 1],
  );
  const page = rows.slice(0, query.limit);
  const movements = await readMovements(db, page.map((row) => row.movement_id));
  const lines = page.flatMap((row) => {
    const movement = movements.get(row.movement_id);
    return movement === undefined
      ? []
      : [{ seq: row.seq.toString(), committedAt: row.committed_at.toISOString(), corrected: row.corrected, movement: movementToWire(movement, assets) }];
  });
  const last = page[page.length - 1];
  return rows.length > query.limit && last !== undefined ? { lines, nextCursor: last.seq.toString() } : { lines };
}

export interface MovementDetail {
  readonly seq: string;
  readonly committedAt: string;
  readonly corrected: boolean;
  readonly movement: WireMovement;
  /** Each side of each entry, with the account's balance after it and its version. */
  readonly postings: readonly { entryIndex: number; side: 'debit' | 'credit'; account: string; asset: string; amount: string; balanceAfter: string; accountVersion: string }[];
}

interface PostingRow {
  entry_index: number;
  side: 'debit' | 'credit';
  account_id: string;
  asset: string;
  amount_minor: bigint;
  balance_after_minor: bigint;
  account_version: bigint;
}

export async function movementDetail(db: Queryable, movementId: string, assets: AssetCatalog): Promise<MovementDetail | undefined> {
  const head = await db.query<{ seq: bigint; committed_at: Date; corrected: boolean }>(
    'SELECT seq, committed_at, corrected FROM movements WHERE movement_id = $1',
    [movementId],
  );
  const row = head.rows[0];
  const movement = (await readMovements(db, [movementId])).get(movementId);
  if (row === undefined || movement === undefined) return undefined;
  // Two sides per entry, and a movement has at most ENTRIES_PER_MOVEMENT_MAX entries.
  const sidesMax = 2 * ENTRIES_PER_MOVEMENT_MAX;
  const postings = await db.query<PostingRow>(
    `SELECT entry_index, side, account_id, asset, amount_minor, balance_after_minor, account_version
       FROM entries WHERE movement_id = $1 ORDER BY entry_index, side DESC ${limitOver(sidesMax)}`,
    [movementId],
  );
  rowsWithin(postings.rows, sidesMax, `movementDetail ${movementId}`);
  return {
    seq: row.seq.toString(),
    committedAt: row.committed_at.toISOString(),
    corrected: row.corrected,
    movement: movementToWire(movement, assets),
    postings: postings.rows.map((p) => ({
      entryIndex: p.entry_index,
      side: p.side,
      account: p.account_id,
      asset: p.asset,
      amount: formatFor(assets, p.asset, p.amount_minor),
      balanceAfter: formatFor(assets, p.asset, p.balance_after_minor),
      accountVersion: p.account_version.toString(),
    })),
  };
}

export interface BalanceSheetLine {
  readonly kind: string;
  readonly owner: 'pot' | 'system';
  readonly asset: string;
  readonly total: string;
}

export interface BalanceSheet {
  readonly lines: readonly BalanceSheetLine[];
  /** Per asset, the sum over every kind: zero, since every movement balances. */
  readonly netByAsset: Readonly<Record<string, string>>;
}

/** The Trust's totals per account kind and asset, from the partition totals kept by every commit. */
export async function balanceSheet(db: Queryable, assets: AssetCatalog): Promise<BalanceSheet> {
  const { rows } = await db.query<{ kind: string; asset: string; total: bigint }>(
    `SELECT kind, asset, sum(balance_minor)::bigint AS total FROM partition_totals GROUP BY kind, asset ORDER BY kind, asset ${limitOver(BALANCE_SHEET_LINES_MAX)}`,
  );
  const net = new Map<string, bigint>();
  const lines = rowsWithin(rows, BALANCE_SHEET_LINES_MAX, 'balanceSheet').map((row) => {
    net.set(row.asset, (net.get(row.asset) ?? 0n) + row.total);
    const owner = ACCOUNT_KINDS.find((kind) => kind.name === row.kind)?.owner ?? 'system';
    return { kind: row.kind, owner, asset: row.asset, total: formatFor(assets, row.asset, row.total) };
  });
  return { lines, netByAsset: Object.fromEntries([...net].map(([asset, minor]) => [asset, formatFor(assets, asset, minor)])) };
}

/** One command in a pot's audit trail: what was asked, by whom, through what, when, and what came of it. */
export interface AuditLine {
  readonly seq: string;
  readonly commandId: string;
  readonly process: string;
  readonly status: 'applied' | 'corrected' | 'rejected';
  readonly movementId: string | null;
  readonly rejectionCode: string | null;
  readonly principal: string | null;
  readonly source: string | null;
  readonly producedAt: string | null;
  readonly recordedAt: string;
}

interface AuditRow {
  seq: bigint;
  command_id: string;
  process: string;
  status: AuditLine['status'];
  movement_id: string | null;
  rejection_code: string | null;
  principal: string | null;
  source: string | null;
  produced_at: Date | null;
  recorded_at: Date;
}

/**
 * Who did what to a pot: its commands' outcomes, newest first, `limit` at a time before `beforeSeq`
 * (keyset paging over command_outcomes (pot_id, seq), an append-only table).
 */
export async function potAudit(db: Queryable, potId: string, limit: number, beforeSeq: bigint | undefined): Promise<AuditLine[]> {
  checkPageSize(limit, PAGE_LINES_MAX, 'potAudit');
  const { rows } = await db.query<AuditRow>(
    `SELECT seq, command_id, process, status, movement_id, rejection_code, principal, source, produced_at, recorded_at
       FROM command_outcomes WHERE pot_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3`,
    [potId, beforeSeq === undefined ? null : beforeSeq.toString(), limit],
  );
  return rows.map((row) => ({
    seq: row.seq.toString(),
    commandId: row.command_id,
    process: row.process,
    status: row.status,
    movementId: row.movement_id,
    rejectionCode: row.rejection_code,
    principal: row.principal,
    source: row.source,
    producedAt: row.produced_at?.toISOString() ?? null,
    recordedAt: row.recorded_at.toISOString(),
  }));
}
