import { writeFile } from 'node:fs/promises';
import { CATALOGUE_PATH, catalogueMarkdown } from './catalogue.js';
import { runCli } from './run-cli.js';

/** `npm run docs:catalogue`: regenerates docs/CATALOGUE.md from the registry. */
await runCli(async () => {
  await writeFile(CATALOGUE_PATH, catalogueMarkdown());
  return 0;
});
