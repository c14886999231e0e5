import { loadConfig } from '../../config/config.js';
import { findOutcomes } from '../../journal/store.js';
import { assetCatalog, DEFAULT_ASSETS, outcomeToWire, type WireMovement, type WireOutcome } from '../../ledger/index.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { formatTable, printJson, printLines, printNotice } from '../output.js';
import type { CliCommand } from './command.js';

const USAGE = 'outcome <commandId> [--json]';

/** A command's outcome as recorded (the idempotency record): what a retry of the command would be told. */
export interface RecordedOutcome {
  readonly commandId: string;
  readonly fingerprint: string;
  readonly recordedAt: string;
  /** The outbox order of the outcome, as a string (a bigint). */
  readonly seq: string;
  readonly outcome: WireOutcome;
}

export const outcomeCommand: CliCommand = {
  usage: [{ line: USAGE, gloss: 'the recorded outcome of a command; exit 1 when there is none' }],
  async run(args) {
    const { values, positionals } = parseCommandLine(USAGE, args, { json: { type: 'boolean' } }, 1);
    const [commandId = ''] = positionals;
    const assets = assetCatalog(DEFAULT_ASSETS);
    const stored = await withDatabase(loadConfig(), async (pool) => (await findOutcomes(pool, [commandId], assets)).get(commandId));
    if (stored === undefined) {
      printNotice(`potledger: no outcome is recorded for command "${commandId}"`);
      return 1;
    }
    const recorded: RecordedOutcome = {
      commandId: stored.commandId,
      fingerprint: stored.fingerprint,
      recordedAt: stored.recordedAt,
      seq: stored.seq.toString(),
      outcome: outcomeToWire(stored.outcome, assets),
    };
    if (values.json === true) printJson(recorded);
    else printLines(humanOutcome(recorded));
    return 0;
  },
};

function humanOutcome(recorded: RecordedOutcome): string[] {
  const { outcome } = recorded;
  const head = [
    `command   ${recorded.commandId}`,
    `outcome   ${outcome.kind}`,
    `recorded  ${recorded.recordedAt} (outbox seq ${recorded.seq})`,
  ];
  switch (outcome.kind) {
    case 'applied':
      return [...head, ...humanMovement(outcome.movement)];
    case 'corrected':
      return [...head, ...humanMovement(outcome.movement), 'corrected because:', ...outcome.violations.map((violation) => `  - ${violation}`)];
    case 'rejected':
      return [
        ...head,
        `code      ${outcome.code}`,
        `reason    ${outcome.reason}`,
        ...(outcome.details === undefined ? [] : [`details   ${JSON.stringify(outcome.details)}`]),
      ];
  }
}

function humanMovement(movement: WireMovement): string[] {
  return [
    `movement  ${movement.movementId}: ${movement.process} v${movement.processVersion}, effective ${movement.effectiveDate}`,
    `pot       ${movement.potId} of member ${movement.memberId} (partition ${movement.partition})`,
    ...(movement.reverses === undefined ? [] : [`reverses  ${movement.reverses}`]),
    ...(movement.entries.length === 0
      ? ['entries   none']
      : formatTable(
          [{ title: 'debit' }, { title: 'credit' }, { title: 'amount', align: 'right' }, { title: 'asset' }],
          movement.entries.map((entry) => [entry.debit, entry.credit, entry.amount, entry.asset]),
        ).map((line) => `  ${line}`)),
  ];
}
