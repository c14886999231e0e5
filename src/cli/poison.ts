import { loadConfig } from '../config/config.js';
import { createPool } from '../journal/database.js';
import { listPoison } from '../journal/poison.js';
import { runCli } from './run-cli.js';

/**
 * `npm run poison [-- --partition N] [--limit N] [--json]`: the messages workers recorded as poison
 * (not JSON, malformed envelope, oversize, wrong partition, message id not the commandId), newest first.
 */
await runCli(async (args) => {
  const option = (name: string) => {
    const index = args.indexOf(`--${name}`);
    const value = index < 0 ? undefined : args[index + 1];
    if (index >= 0 && (value === undefined || !/^[0-9]+$/.test(value))) throw new Error(`--${name} takes a whole number`);
    return value === undefined ? undefined : Number(value);
  };
  const partition = option('partition');
  const limit = option('limit');
  const pool = createPool(loadConfig().DATABASE_URL, { max: 1, applicationName: 'potledger-poison' });
  try {
    const messages = await listPoison(pool, { ...(partition === undefined ? {} : { partition }), ...(limit === undefined ? {} : { limit }) });
    if (args.includes('--json')) process.stdout.write(`${JSON.stringify(messages)}\n`);
    else {
      for (const m of messages) process.stdout.write(`${m.recordedAt} p${m.partition} seq ${m.streamSeq} ${m.code}: ${m.reason} (${m.bodyBytes} bytes)\n`);
      process.stdout.write(`${messages.length} poison message(s)\n`);
    }
    return 0;
  } finally {
    await pool.end();
  }
});
