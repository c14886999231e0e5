import type { Queryable } from './store.js';

/**
 * Members' personal data, kept apart from the ledger: the journal names a member only by member_id.
 * Erasure clears the personal fields and keeps the row, so every movement still names a member that
 * existed and the ledger stays whole.
 */
export interface Member {
  readonly memberId: string;
  /** Absent once erased. */
  readonly name?: string;
  readonly email?: string;
  readonly address?: string;
  readonly riskProfile: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly erasedAt?: string;
}

export interface MemberFields {
  readonly name: string;
  readonly email: string;
  readonly address: string;
  readonly riskProfile: string;
}

interface MemberRow {
  member_id: string;
  name: string | null;
  email: string | null;
  address: string | null;
  risk_profile: string;
  version: bigint;
  created_at: Date;
  updated_at: Date;
  erased_at: Date | null;
}

const COLUMNS = 'member_id, name, email, address, risk_profile, version, created_at, updated_at, erased_at';

function toMember(row: MemberRow): Member {
  return {
    memberId: row.member_id,
    ...(row.name === null ? {} : { name: row.name }),
    ...(row.email === null ? {} : { email: row.email }),
    ...(row.address === null ? {} : { address: row.address }),
    riskProfile: row.risk_profile,
    version: Number(row.version),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    ...(row.erased_at === null ? {} : { erasedAt: row.erased_at.toISOString() }),
  };
}

/** Creates the member; undefined when the id is taken. */
export async function insertMember(db: Queryable, memberId: string, fields: MemberFields): Promise<Member | undefined> {
  const { rows } = await db.query<MemberRow>(
    `INSERT INTO members (member_id, name, email, address, risk_profile) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (member_id) DO NOTHING RETURNING ${COLUMNS}`,
    [memberId, fields.name, fields.email, fields.address, fields.riskProfile],
  );
  return rows[0] === undefined ? undefined : toMember(rows[0]);
}

export async function findMember(db: Queryable, memberId: string): Promise<Member | undefined> {
  const { rows } = await db.query<MemberRow>(`SELECT ${COLUMNS} FROM members WHERE member_id = $1`, [memberId]);
  return rows[0] === undefined ? undefined : toMember(rows[0]);
}

export type MemberUpdate =
  | { readonly kind: 'updated'; readonly member: Member }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'erased' };

/** Changes the given fields; an erased member's personal data cannot be written again. */
export async function updateMember(db: Queryable, memberId: string, fields: Partial<MemberFields>): Promise<MemberUpdate> {
  const { rows } = await db.query<MemberRow>(
    `UPDATE members SET name = coalesce($2, name), email = coalesce($3, email), address = coalesce($4, address),
            risk_profile = coalesce($5, risk_profile), version = version + 1, updated_at = now()
      WHERE member_id = $1 AND erased_at IS NULL
     RETURNING ${COLUMNS}`,
    [memberId, fields.name ?? null, fields.email ?? null, fields.address ?? null, fields.riskProfile ?? null],
  );
  if (rows[0] !== undefined) return { kind: 'updated', member: toMember(rows[0]) };
  return (await findMember(db, memberId)) === undefined ? { kind: 'not-found' } : { kind: 'erased' };
}

/** Erases the member's personal data (idempotent); the ledger is untouched. Undefined when unknown. */
export async function eraseMember(db: Queryable, memberId: string): Promise<Member | undefined> {
  const { rows } = await db.query<MemberRow>(
    `UPDATE members SET name = NULL, email = NULL, address = NULL, version = version + 1, updated_at = now(), erased_at = now()
      WHERE member_id = $1 AND erased_at IS NULL
     RETURNING ${COLUMNS}`,
    [memberId],
  );
  return rows[0] === undefined ? findMember(db, memberId) : toMember(rows[0]);
}
