import { loadConfig } from '../../config/config.js';
import { listPoison } from '../../journal/poison.js';
import { parseCommandLine, wholeNumberFlag } from '../args.js';
import { withDatabase } from '../database.js';
import { printJson, printLines } from '../output.js';
import type { CliCommand } from './command.js';

const USAGE = 'poison [--partition N] [--limit N] [--json]';

/**
 * The messages workers recorded as poison (not JSON, malformed envelope, oversize, wrong partition,
 * message id not the commandId), newest first.
 */
export const poisonCommand: CliCommand = {
  usage: [{ line: USAGE, gloss: 'the messages workers recorded as poison, newest first' }],
  async run(args) {
    const { values } = parseCommandLine(USAGE, args, {
      partition: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    });
    const partition = wholeNumberFlag(USAGE, 'partition', values.partition);
    const limit = wholeNumberFlag(USAGE, 'limit', values.limit);
    const messages = await withDatabase(loadConfig(), (pool) =>
      listPoison(pool, { ...(partition === undefined ? {} : { partition }), ...(limit === undefined ? {} : { limit }) }),
    );
    if (values.json === true) printJson(messages);
    else {
      printLines([
        ...messages.map((m) => `${m.recordedAt} p${m.partition} seq ${m.streamSeq} ${m.code}: ${m.reason} (${m.bodyBytes} bytes)`),
        `${messages.length} poison message(s)`,
      ]);
    }
    return 0;
  },
};
