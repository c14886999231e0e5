import { describe, expect, it } from 'vitest';
import { KnownKeys } from '../../src/api/limits.js';

describe('KnownKeys', () => {
  it('holds at most its bound, dropping the least recently verified key first', () => {
    const known = new KnownKeys(2);
    known.remember('plk_a');
    known.remember('plk_b');
    known.remember('plk_a');
    known.remember('plk_c');
    expect([known.has('plk_a'), known.has('plk_b'), known.has('plk_c')]).toEqual([true, false, true]);
  });

  it('knows a key by its whole text: the same key id with another secret is not known', () => {
    const known = new KnownKeys();
    known.remember('plk_0123456789abcdef_secret');
    expect(known.has('plk_0123456789abcdef_other')).toBe(false);
    known.forget('plk_0123456789abcdef_secret');
    expect(known.has('plk_0123456789abcdef_secret')).toBe(false);
  });
});
