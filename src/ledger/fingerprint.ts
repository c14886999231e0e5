import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted, no whitespace, so equal values give equal text. Values that JSON
 * cannot carry (bigint, functions, undefined, even as an object's value) are refused: wire payloads
 * are plain JSON, and a key holding undefined would fingerprint like an absent key while a strict
 * schema refuses it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
}

/** What makes two attempts of one commandId "the same request": everything but producedAt. */
export interface FingerprintedFields {
  readonly process: string;
  readonly memberId: string;
  readonly potId: string;
  readonly effectiveDate: string;
  readonly payload: unknown;
}

/** sha256 (hex) of the canonical JSON of the command's meaning. A deterministic hash, not I/O. */
export function commandFingerprint(command: FingerprintedFields): string {
  const { process, memberId, potId, effectiveDate, payload } = command;
  return createHash('sha256').update(canonicalJson({ process, memberId, potId, effectiveDate, payload })).digest('hex');
}
