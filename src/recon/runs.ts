import { writeCsv } from '../csv/index.js';
import type { Queryable } from '../journal/store.js';
import { formatAmount, type AssetCatalog } from '../ledger/index.js';
import type { Break, Classification } from './reconcile.js';

/** Stored reconciliation runs: read back, exported as CSV and JSON, and annotated as breaks are resolved. */
export interface StoredBreak {
  readonly seq: number;
  readonly kind: Break['kind'];
  readonly asset: string;
  readonly reference?: string;
  /** Decimal strings in the asset's units (the value in its currency). */
  readonly ledger: string;
  readonly statement: string;
  readonly difference: string;
  readonly value?: string;
  readonly valueCurrency?: string;
  readonly classification: Classification;
  readonly explanation: string;
  readonly resolution?: string;
  readonly resolvedAt?: string;
}

export interface StoredRun {
  readonly runId: string;
  readonly asOf: string;
  readonly startedAt: string;
  readonly inputs: unknown;
  readonly checked: unknown;
  readonly breaks: readonly StoredBreak[];
}

export async function readRun(db: Queryable, runId: string, assets: AssetCatalog): Promise<StoredRun | undefined> {
  const run = await db.query<{ run_id: string; as_of: string; started_at: Date; inputs: unknown; checked: unknown }>(
    'SELECT run_id, as_of::text AS as_of, started_at, inputs, checked FROM recon_runs WHERE run_id = $1',
    [runId],
  );
  const head = run.rows[0];
  if (head === undefined) return undefined;
  const { rows } = await db.query<{
    seq: number; kind: Break['kind']; asset: string; reference: string | null; ledger_minor: bigint; statement_minor: bigint; difference_minor: bigint;
    value_minor: bigint | null; value_currency: string | null; classification: Classification; explanation: string; resolution: string | null; resolved_at: Date | null;
  }>('SELECT * FROM recon_breaks WHERE run_id = $1 ORDER BY seq', [runId]);
  const format = (minor: bigint, code: string) => formatAmount(minor, assets.find(code)?.scale ?? 0);
  return {
    runId: head.run_id,
    asOf: head.as_of,
    startedAt: head.started_at.toISOString(),
    inputs: head.inputs,
    checked: head.checked,
    breaks: rows.map((row) => ({
      seq: row.seq,
      kind: row.kind,
      asset: row.asset,
      ...(row.reference === null ? {} : { reference: row.reference }),
      ledger: format(row.ledger_minor, row.asset),
      statement: format(row.statement_minor, row.asset),
      difference: format(row.difference_minor, row.asset),
      ...(row.value_minor === null || row.value_currency === null ? {} : { value: format(row.value_minor, row.value_currency), valueCurrency: row.value_currency }),
      classification: row.classification,
      explanation: row.explanation,
      ...(row.resolution === null ? {} : { resolution: row.resolution }),
      ...(row.resolved_at === null ? {} : { resolvedAt: row.resolved_at.toISOString() }),
    })),
  };
}

/** Records how a break was resolved; false when there is no such break. */
export async function resolveBreak(db: Queryable, runId: string, seq: number, note: string): Promise<boolean> {
  const result = await db.query('UPDATE recon_breaks SET resolution = $3, resolved_at = now() WHERE run_id = $1 AND seq = $2', [runId, seq, note]);
  return (result.rowCount ?? 0) === 1;
}

const CSV_COLUMNS = ['seq', 'kind', 'asset', 'reference', 'ledger', 'statement', 'difference', 'value', 'valueCurrency', 'classification', 'explanation', 'resolution'] as const;

/**
 * The breaks of a run as CSV (src/csv/write.ts: RFC 4180 quoting, one line per break), safe to open in a
 * spreadsheet: a cell that would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading
 * apostrophe; a plain decimal (a negative difference, `-12.50`) stays a number.
 */
export function breaksCsv(run: StoredRun): string {
  return writeCsv(CSV_COLUMNS, run.breaks);
}
