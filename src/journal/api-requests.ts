import type { Queryable } from './store.js';

/**
 * The API's idempotency record: the first request under a caller's Idempotency-Key claims it, with the
 * fingerprint of what it asked and the resource it names; a retry finds the claim.
 */
export type Claim =
  | { readonly kind: 'first'; readonly resourceId: string }
  | { readonly kind: 'retry'; readonly resourceId: string; readonly request: unknown }
  | { readonly kind: 'conflict'; readonly route: string };

export async function claimIdempotencyKey(
  db: Queryable,
  claim: { principal: string; key: string; route: string; fingerprint: string; resourceId: string; request?: unknown },
): Promise<Claim> {
  const inserted = await db.query(
    `INSERT INTO api_requests (principal, idempotency_key, route, fingerprint, resource_id, request)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (principal, idempotency_key) DO NOTHING`,
    [claim.principal, claim.key, claim.route, claim.fingerprint, claim.resourceId, claim.request === undefined ? null : JSON.stringify(claim.request)],
  );
  if ((inserted.rowCount ?? 0) === 1) return { kind: 'first', resourceId: claim.resourceId };
  const { rows } = await db.query<{ route: string; fingerprint: string; resource_id: string; request: unknown }>(
    'SELECT route, fingerprint, resource_id, request FROM api_requests WHERE principal = $1 AND idempotency_key = $2',
    [claim.principal, claim.key],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('claimIdempotencyKey: the key was claimed and is gone');
  return row.route === claim.route && row.fingerprint === claim.fingerprint
    ? { kind: 'retry', resourceId: row.resource_id, request: row.request }
    : { kind: 'conflict', route: row.route };
}

/** Whether the API accepted a command with this id (so a missing outcome means "pending", not "unknown"). */
export async function commandAccepted(db: Queryable, commandId: string): Promise<boolean> {
  const { rowCount } = await db.query("SELECT 1 FROM api_requests WHERE resource_id = $1 AND route LIKE 'POST /commands/%'", [commandId]);
  return (rowCount ?? 0) > 0;
}
