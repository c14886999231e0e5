/**
 * Tells each waiting publisher the outcome of its command once committed (core NATS, best effort: the
 * outcome stays queryable through the look-up service).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { AssetCatalog } from '../ledger/index.js';
import { encodeOutcomeNotice, outcomeNotice } from '../wire/index.js';
import type { PlannedAnswer } from './batch-planner.js';
import { replySubjectAllowed, type Names } from './names.js';

/**
 * Sends each answer with a reply subject its notice. Only to a reply subject (`<prefix>.reply.…` or
 * `_INBOX.…`, see replySubjectAllowed): a forged Potledger-Reply naming a command, event or custodian
 * subject gets nothing. Bounded by the batch (at most commitBatchMax answers).
 */
export function sendNotices(nc: NatsConnection, names: Names, assets: AssetCatalog, answers: readonly PlannedAnswer[]): void {
  for (const { command, reply, answer } of answers) {
    // A reply subject outside the notice namespaces is ignored: the outcome stays queryable.
    if (reply === undefined || !replySubjectAllowed(names, reply)) continue;
    try {
      nc.publish(reply, encodeOutcomeNotice(outcomeNotice(command.commandId, answer, assets)));
    } catch {
      // The connection is closing; the publisher will ask for the outcome instead.
    }
  }
}
