// Vitest's asymmetric matchers typed as `unknown` instead of `any`. Vitest declares them `any` so that they
// fit any expected shape; the type-checked lint rule no-unsafe-assignment then refuses them inside an
// object literal. These wrappers match exactly as vitest's do: `toEqual({ message: stringMatching(/x/) })`.
import { expect } from 'vitest';

/** A string matching `pattern` (vitest's `expect.stringMatching`). */
export function stringMatching(pattern: string | RegExp): unknown {
  return expect.stringMatching(pattern);
}

/** A string containing `text` (vitest's `expect.stringContaining`). */
export function stringContaining(text: string): unknown {
  return expect.stringContaining(text);
}

/** Any value made by `type`, or of its primitive type (vitest's `expect.any`): `anyOf(String)`, `anyOf(BigInt)`. */
export function anyOf(type: unknown): unknown {
  return expect.any(type);
}
