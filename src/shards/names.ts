/**
 * Names of everything the ledger keeps in NATS, derived from one prefix so that several ledgers (and
 * every test run) can share a nats-server without touching each other's data.
 *
 *   stream  <prefix>-commands   subjects <prefix>.cmd.<partition>
 *   stream  <prefix>-events     subjects <prefix>.evt.<partition>
 *   KV      <prefix>-leases     key p<partition>: the partition's owner (lease with a TTL)
 *   KV      <prefix>-workers    key <workerId>: live workers (heartbeat with a TTL)
 *   consumer <prefix>-p<partition>-e<epoch>: the partition's pull consumer for one ownership epoch
 *   subject <prefix>.outcome.get: request/reply lookup of a command's outcome
 *   subject <prefix>.reply.<id>: a publisher's outcome notices (or any `_INBOX.` subject)
 */
export interface Names {
  readonly prefix: string;
  readonly commandStream: string;
  readonly eventStream: string;
  readonly leaseBucket: string;
  readonly workerBucket: string;
  readonly outcomeLookupSubject: string;
  commandSubject(partition: number): string;
  eventSubject(partition: number): string;
  consumerName(partition: number, epoch: bigint): string;
  leaseKey(partition: number): string;
}

export function names(prefix: string): Names {
  return {
    prefix,
    commandStream: `${prefix}-commands`,
    eventStream: `${prefix}-events`,
    leaseBucket: `${prefix}-leases`,
    workerBucket: `${prefix}-workers`,
    outcomeLookupSubject: `${prefix}.outcome.get`,
    commandSubject: (partition) => `${prefix}.cmd.${partition}`,
    eventSubject: (partition) => `${prefix}.evt.${partition}`,
    consumerName: (partition, epoch) => `${prefix}-p${partition}-e${epoch}`,
    leaseKey: (partition) => `p${partition}`,
  };
}

/** A subject token: no wildcard, no space, no empty token. */
const REPLY_SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;

/**
 * True when a worker may publish an outcome notice to `subject` (a command's Potledger-Reply): only a
 * publisher's notice subject `<prefix>.reply.…` or an inbox `_INBOX.…`. The header is the publisher's
 * word, not a right: a forged one must not make a worker publish onto a command, event or custodian
 * subject (its NATS permissions refuse the custodian's; this refuses the rest).
 */
export function replySubjectAllowed(ledger: Pick<Names, 'prefix'>, subject: string): boolean {
  return REPLY_SUBJECT.test(subject) && (subject.startsWith(`${ledger.prefix}.reply.`) || subject.startsWith('_INBOX.'));
}

// The message headers and the close marker's id are part of the wire publishers and workers share
// (src/wire, where src/ imports them from); re-exported here for the tests that import them with the names.
export { closeMarkerId, HEADER } from '../wire/index.js';
