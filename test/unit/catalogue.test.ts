import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CATALOGUE_PATH, catalogueMarkdown } from '../../src/cli/catalogue.js';
import { ledgerProcesses } from '../../src/ledger/index.js';

describe('docs/CATALOGUE.md', () => {
  it('is what the registry generates (run `npm run docs:catalogue` after changing a process or kind)', async () => {
    expect(await readFile(CATALOGUE_PATH, 'utf8')).toBe(catalogueMarkdown());
  });

  it('lists every registered process', () => {
    const catalogue = catalogueMarkdown();
    for (const process of ledgerProcesses.list()) expect(catalogue).toContain(`### \`${process.name}\` v${process.version}`);
  });
});
