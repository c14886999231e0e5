import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { loadConfig } from '../../config/config.js';
import { natsConnectOptions } from '../../config/nats.js';
import { Rebalancer } from '../../dealing/rebalancer.js';
import { assetCatalog, DEFAULT_ASSETS, DEFAULT_PROFILES, isCalendarDate, ledgerProcesses } from '../../ledger/index.js';
import { LedgerPublisher } from '../../sdk/publisher.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { usageError } from '../errors.js';
import { printJson, printLines, progressBar } from '../output.js';
import type { CliCommand } from './command.js';

const USAGE = 'rebalance <date> [--json]';

/**
 * Fans out the day's re-balance to every pot that follows a profile, at that day's closing prices, with
 * a progress bar. Safe to run again after a crash: each pot is re-balanced once per day.
 */
export const rebalanceCommand: CliCommand = {
  usage: [{ line: USAGE, gloss: "re-balance every pot that follows a profile at the day's closing prices (resumable)" }],
  async run(args) {
    const { values, positionals } = parseCommandLine(USAGE, args, { json: { type: 'boolean' } }, 1);
    const date = positionals[0] ?? '';
    if (!isCalendarDate(date)) throw usageError(`"${date}" is not a date (YYYY-MM-DD)`, USAGE);
    const config = loadConfig();
    const nc = await connect(natsConnectOptions(config, 'potledger-rebalance'));
    try {
      const publisher = await LedgerPublisher.connect({ nc, prefix: config.NATS_PREFIX, registry: ledgerProcesses, partitionCount: config.PARTITION_COUNT });
      const bar = progressBar(values.json !== true, 'rebalance [{bar}] {value}/{total} pots');
      const run = await withDatabase(config, (pool) =>
        new Rebalancer({
          pool,
          publisher,
          profiles: DEFAULT_PROFILES,
          assets: assetCatalog(DEFAULT_ASSETS),
          log: pino({ level: 'warn' }),
          outcomeTimeoutMs: 300_000,
          onProgress: (done, total) => bar.update(done, total),
        }).run(date),
      ).finally(() => bar.stop());
      await publisher.close();
      if (values.json === true) printJson(run);
      else {
        const deferred = Object.entries(run.deferred).map(([code, n]) => `${n} ${code}`).join(', ');
        const refused = Object.entries(run.legsRefused).map(([code, n]) => `${n} ${code}`).join(', ');
        printLines([
          `re-balanced ${run.rebalanced} of ${run.pots} pots for ${run.date}: ${run.sells} sells and ${run.buys} buys placed; ${run.screened} within their band on the snapshot`,
          ...(deferred === '' ? [] : [`deferred: ${deferred}`]),
          ...(refused === '' ? [] : [`orders refused (breaks): ${refused}`]),
        ]);
      }
      return Object.keys(run.legsRefused).length === 0 ? 0 : 1;
    } finally {
      await nc.drain();
    }
  },
};
