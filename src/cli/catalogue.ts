import { z } from 'zod';
import { ACCOUNT_KINDS, ledgerProcesses, RejectionCode, type Invariant } from '../ledger/index.js';
import { sagaCatalogueLines } from '../sagas/catalogue.js';
import { sagas } from '../sagas/registry.js';

/**
 * The catalogue of processes, account kinds, rejection codes and sagas, generated from the registry so it can
 * never drift from the code: `npm run docs:catalogue` writes docs/CATALOGUE.md, and a test fails when
 * the committed file differs from what the code generates.
 */
export function catalogueMarkdown(): string {
  const lines = [
    '# Catalogue',
    '',
    'Generated from the code by `npm run docs:catalogue`; do not edit by hand.',
    '',
    '## Processes',
    '',
  ];
  for (const process of ledgerProcesses.list()) {
    lines.push(`### \`${process.name}\` v${process.version}`, '', process.describe, '');
    if (process.drivenBy !== undefined) lines.push(`Sent by ${process.drivenBy} only: not on the HTTP command route.`, '');
    lines.push(`- pot: ${process.pot === 'absent' ? 'must not exist yet (opens it)' : 'must exist, be open and belong to the member'}`);
    lines.push('- payload (JSON Schema):', '', '```json', JSON.stringify(z.toJSONSchema(process.payload), null, 2), '```', '');
  }
  lines.push('## Account kinds', '', '| kind | owner | assets | invariants | meaning |', '|---|---|---|---|---|');
  for (const kind of ACCOUNT_KINDS) {
    lines.push(`| \`${kind.name}\` | ${kind.owner} | ${kind.assets} | ${kind.invariants.map(describeInvariant).join('; ')} | ${kind.description} |`);
  }
  lines.push('', '## Rejection codes', '', '| code | name |', '|---|---|');
  for (const [name, code] of Object.entries(RejectionCode)) lines.push(`| \`${code}\` | ${name} |`);
  lines.push('', ...sagaCatalogueLines(sagas));
  return `${lines.join('\n')}\n`;
}

function describeInvariant(invariant: Invariant): string {
  switch (invariant.type) {
    case 'nonNegative':
      return 'never negative';
    case 'nonPositive':
      return 'never positive';
    case 'atMost':
      return `at most \`${invariant.kind}\``;
    case 'exclusiveWith':
      return `cannot coexist with \`${invariant.kind}\``;
  }
}

export const CATALOGUE_PATH = new URL('../../docs/CATALOGUE.md', import.meta.url);
