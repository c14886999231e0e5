import type pg from 'pg';
import type { Queryable } from '../journal/database.js';
import { formatAmount, type AssetCatalog } from '../ledger/index.js';
import type { Alert } from './rules.js';

/** An alert as the API and NATS show it: amounts as decimal strings of their asset. */
export interface AlertView {
  readonly seq: number;
  readonly alertId: string;
  readonly kind: Alert['kind'];
  readonly scope: 'movement' | 'pot' | 'fund' | 'pool';
  readonly scopeId: string;
  readonly potId?: string;
  readonly movementId: string;
  readonly asset?: string;
  readonly amount?: string;
  readonly threshold?: string;
  readonly windowStart?: string;
  readonly count?: number;
  readonly historyTotal?: number;
  readonly detectedAt: string;
  readonly acknowledgedAt?: string;
  readonly acknowledgedBy?: string;
  readonly note?: string;
}

interface AlertRow {
  seq: bigint;
  alert_id: string;
  kind: Alert['kind'];
  scope: AlertView['scope'];
  scope_id: string;
  pot_id: string | null;
  movement_id: string;
  asset: string | null;
  amount_minor: bigint | null;
  threshold_minor: bigint | null;
  window_start: Date | null;
  count: number | null;
  history_total: bigint | null;
  detected_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  note: string | null;
}

/** An alert as published on NATS (`<prefix>.alert.<kind>`): the view without its storage fields. */
export function alertMessage(alert: Alert, assets: AssetCatalog): Omit<AlertView, 'seq' | 'acknowledgedAt' | 'acknowledgedBy' | 'note'> {
  const at = new Date(alert.atMs).toISOString();
  if (alert.kind === 'spike') {
    const { alertId, kind, scope, scopeId, movementId, count, historyTotal } = alert;
    return {
      alertId,
      kind,
      scope,
      scopeId,
      ...(scope === 'pot' ? { potId: scopeId } : {}),
      movementId,
      windowStart: new Date(alert.windowStartMs).toISOString(),
      count,
      historyTotal,
      detectedAt: at,
    };
  }
  const scale = assets.find(alert.asset)?.scale;
  if (scale === undefined) throw new Error(`alert ${alert.alertId}: unknown asset ${alert.asset}`);
  return {
    alertId: alert.alertId, kind: alert.kind, scope: 'movement', scopeId: alert.movementId, potId: alert.potId, movementId: alert.movementId, asset: alert.asset,
    amount: formatAmount(alert.amountMinor, scale), threshold: formatAmount(alert.thresholdMinor, scale), detectedAt: at,
  };
}

/** Stores alerts not stored yet (by id) and returns the ids it stored. */
export async function insertAlerts(db: Queryable, alerts: readonly Alert[]): Promise<Set<string>> {
  // One row per alert, in the column order of the INSERT below: id, kind, scope, scope id, pot, movement,
  // then a threshold's asset, amount and threshold or a spike's window start, count and history total, then the time.
  const rows = alerts.map((a) =>
    a.kind === 'threshold'
      ? [a.alertId, a.kind, 'movement', a.movementId, a.potId, a.movementId,
         a.asset, a.amountMinor.toString(), a.thresholdMinor.toString(), null, null, null,
         new Date(a.atMs)]
      : [a.alertId, a.kind, a.scope, a.scopeId, a.scope === 'pot' ? a.scopeId : null, a.movementId,
         null, null, null, new Date(a.windowStartMs), a.count, a.historyTotal,
         new Date(a.atMs)],
  );
  const column = (index: number) => rows.map((row) => row[index] ?? null);
  const { rows: stored } = await db.query<{ alert_id: string }>(
    `INSERT INTO alerts (alert_id, kind, scope, scope_id, pot_id, movement_id, asset, amount_minor, threshold_minor, window_start, count, history_total, detected_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[],
                          $10::timestamptz[], $11::int[], $12::bigint[], $13::timestamptz[])
     ON CONFLICT (alert_id) DO NOTHING
     RETURNING alert_id`,
    Array.from({ length: 13 }, (_, index) => column(index)),
  );
  return new Set(stored.map((row) => row.alert_id));
}

const COLUMNS = `seq, alert_id, kind, scope, scope_id, pot_id, movement_id, asset, amount_minor, threshold_minor, window_start, count, history_total,
                 detected_at, acknowledged_at, acknowledged_by, note`;

/** Alerts in the order they were stored, after `afterSeq`; only the open ones unless `all`. */
export async function listAlerts(db: Queryable, assets: AssetCatalog, query: { afterSeq: number; limit: number; open: boolean }): Promise<AlertView[]> {
  const { rows } = await db.query<AlertRow>(
    `SELECT ${COLUMNS} FROM alerts WHERE seq > $1 AND ($3::boolean IS FALSE OR acknowledged_at IS NULL) ORDER BY seq LIMIT $2`,
    [query.afterSeq, query.limit, query.open],
  );
  return rows.map((row) => alertView(row, assets));
}

export async function readAlert(db: Queryable, assets: AssetCatalog, alertId: string): Promise<AlertView | undefined> {
  const { rows } = await db.query<AlertRow>(`SELECT ${COLUMNS} FROM alerts WHERE alert_id = $1`, [alertId]);
  const row = rows[0];
  return row === undefined ? undefined : alertView(row, assets);
}

/** Acknowledges an open alert; 'unknown' or 'acknowledged already' otherwise (nothing changes then). */
export async function acknowledgeAlert(pool: pg.Pool, alertId: string, by: string, note: string | undefined): Promise<'acknowledged' | 'unknown' | 'acknowledged already'> {
  const { rowCount } = await pool.query(
    'UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2, note = $3 WHERE alert_id = $1 AND acknowledged_at IS NULL',
    [alertId, by, note ?? null],
  );
  if (rowCount === 1) return 'acknowledged';
  const { rows } = await pool.query('SELECT 1 FROM alerts WHERE alert_id = $1', [alertId]);
  return rows.length === 0 ? 'unknown' : 'acknowledged already';
}

function alertView(row: AlertRow, assets: AssetCatalog): AlertView {
  const format = (minor: bigint | null) => {
    if (minor === null || row.asset === null) return undefined;
    const scale = assets.find(row.asset)?.scale;
    if (scale === undefined) throw new Error(`alert ${row.alert_id}: unknown asset ${row.asset}`);
    return formatAmount(minor, scale);
  };
  const amount = format(row.amount_minor);
  const threshold = format(row.threshold_minor);
  return {
    seq: Number(row.seq),
    alertId: row.alert_id,
    kind: row.kind,
    scope: row.scope,
    scopeId: row.scope_id,
    ...(row.pot_id === null ? {} : { potId: row.pot_id }),
    movementId: row.movement_id,
    ...(row.asset === null ? {} : { asset: row.asset }),
    ...(amount === undefined ? {} : { amount }),
    ...(threshold === undefined ? {} : { threshold }),
    ...(row.window_start === null ? {} : { windowStart: row.window_start.toISOString() }),
    ...(row.count === null ? {} : { count: row.count }),
    ...(row.history_total === null ? {} : { historyTotal: Number(row.history_total) }),
    detectedAt: row.detected_at.toISOString(),
    ...(row.acknowledged_at === null ? {} : { acknowledgedAt: row.acknowledged_at.toISOString() }),
    ...(row.acknowledged_by === null ? {} : { acknowledgedBy: row.acknowledged_by }),
    ...(row.note === null ? {} : { note: row.note }),
  };
}
