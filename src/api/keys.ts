import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../journal/store.js';

/**
 * API keys. A key reads `plk_<keyId>_<secret>`: the id finds the row, the secret (32 random bytes,
 * base64url) is checked against its stored SHA-256 in constant time. The secret itself is shown once,
 * when the key is created, and stored nowhere.
 */
export const ROLES = ['service', 'operator', 'member'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: a key's role, and for a member key the member it may read. */
export interface Principal {
  readonly keyId: string;
  readonly role: Role;
  readonly memberId?: string;
}

export interface CreatedKey extends Principal {
  /** The whole key, to hand to the caller once. */
  readonly key: string;
}

const KEY_FORMAT = /^plk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export async function createApiKey(db: Queryable, request: { role: Role; memberId?: string; label?: string }): Promise<CreatedKey> {
  if ((request.role === 'member') !== (request.memberId !== undefined)) {
    throw new RangeError('a member key names its member, and only a member key does');
  }
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  await db.query('INSERT INTO api_keys (key_id, secret_sha256, role, member_id, label) VALUES ($1, $2, $3, $4, $5)', [
    keyId,
    sha256(secret),
    request.role,
    request.memberId ?? null,
    request.label ?? '',
  ]);
  return { keyId, role: request.role, ...(request.memberId === undefined ? {} : { memberId: request.memberId }), key: `plk_${keyId}_${secret}` };
}

export async function revokeApiKey(db: Queryable, keyId: string): Promise<boolean> {
  const result = await db.query('UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL', [keyId]);
  return (result.rowCount ?? 0) === 1;
}

export interface ApiKeyInfo extends Principal {
  readonly label: string;
  readonly createdAt: string;
  readonly revokedAt?: string;
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<{ key_id: string; role: Role; member_id: string | null; label: string; created_at: Date; revoked_at: Date | null }>(
    'SELECT key_id, role, member_id, label, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id',
  );
  return rows.map((row) => ({
    keyId: row.key_id,
    role: row.role,
    ...(row.member_id === null ? {} : { memberId: row.member_id }),
    label: row.label,
    createdAt: row.created_at.toISOString(),
    ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at.toISOString() }),
  }));
}

/** The principal of a presented key, or undefined when the key is malformed, unknown, revoked or wrong. */
export async function authenticate(db: Queryable, presented: string): Promise<Principal | undefined> {
  const match = KEY_FORMAT.exec(presented);
  if (match === null) return undefined;
  const [, keyId, secret] = match as unknown as [string, string, string];
  const { rows } = await db.query<{ secret_sha256: Buffer; role: Role; member_id: string | null }>(
    'SELECT secret_sha256, role, member_id FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL',
    [keyId],
  );
  const row = rows[0];
  if (row === undefined || !timingSafeEqual(row.secret_sha256, sha256(secret))) return undefined;
  return { keyId, role: row.role, ...(row.member_id === null ? {} : { memberId: row.member_id }) };
}
