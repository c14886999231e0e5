import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type pg from 'pg';
import { loadConfig, type Config } from '../../config/config.js';
import { natsConnectOptions } from '../../config/nats.js';
import { names, type Names } from '../../shards/names.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { formatTable, printJson, printLines, printNotice } from '../output.js';
import type { CliCommand } from './command.js';

const USAGE = 'shards [--json]';

/** How long the CLI waits for NATS before it reports the Postgres side alone. */
const NATS_CONNECT_TIMEOUT_MS = 5000;

/** The partition's last claim in Postgres: the worker that took it, and how far its commits got. */
export interface PartitionOwner {
  readonly workerId: string;
  readonly epoch: string;
  readonly acquiredAt: string;
  /** Every command message up to this stream sequence has its outcome committed. */
  readonly checkpointSeq: string;
  readonly eventsThroughSeq: string;
  readonly committedAt: string | null;
  /** By the database's clock, so the CLI's own clock does not matter. */
  readonly secondsSinceCommit: number | null;
}

/** The pull consumer of the owner's epoch in JetStream. */
export interface PartitionConsumer {
  readonly name: string;
  /** Messages of the partition not yet delivered to its owner. */
  readonly pending: number;
  /** Delivered to its owner, not yet acknowledged (not yet committed). */
  readonly ackPending: number;
}

export interface PartitionStatus {
  readonly partition: number;
  /** null: no worker has ever claimed the partition. */
  readonly owner: PartitionOwner | null;
  /** null: unowned, no consumer for the owner's epoch, or NATS out of reach (see `nats`). */
  readonly consumer: PartitionConsumer | null;
}

export type NatsSide =
  | { readonly reachable: true; readonly stream: { readonly name: string; readonly lastSeq: number } | null }
  | { readonly reachable: false; readonly error: string };

export interface ShardsReport {
  readonly prefix: string;
  readonly partitionCount: number;
  readonly nats: NatsSide;
  readonly partitions: readonly PartitionStatus[];
}

/**
 * Who owns which partition and how far behind it is: the claims in Postgres beside the consumers in
 * JetStream. When NATS is out of reach it still prints the Postgres side, says so, and exits 1.
 */
export const shardsCommand: CliCommand = {
  usage: [{ line: USAGE, gloss: 'who owns each partition, its checkpoint, and what waits in its consumer' }],
  async run(args) {
    const { values } = parseCommandLine(USAGE, args, { json: { type: 'boolean' } });
    const config = loadConfig();
    const streamNames = names(config.NATS_PREFIX);
    const [owners, jetStream] = await Promise.all([withDatabase(config, readOwners), readJetStream(config, streamNames)]);
    const partitions = partitionsOf(config.PARTITION_COUNT, owners).map((partition) => {
      const owner = owners.get(partition) ?? null;
      const consumer = owner === null ? undefined : jetStream.consumers.get(streamNames.consumerName(partition, BigInt(owner.epoch)));
      return { partition, owner, consumer: consumer ?? null };
    });
    const report: ShardsReport = { prefix: config.NATS_PREFIX, partitionCount: config.PARTITION_COUNT, nats: jetStream.side, partitions };
    if (values.json === true) printJson(report);
    else printLines(humanReport(report, streamNames));
    if (report.nats.reachable) return 0;
    printNotice(`potledger: NATS at ${config.NATS_URL} is out of reach (${report.nats.error}): only the Postgres side is shown`);
    return 1;
  },
};

/** Every configured partition, and any claimed one beyond (a ledger started with a larger count). */
function partitionsOf(partitionCount: number, owners: ReadonlyMap<number, PartitionOwner>): number[] {
  const all = new Set([...Array.from({ length: partitionCount }, (_, partition) => partition), ...owners.keys()]);
  return [...all].sort((a, b) => a - b);
}

async function readOwners(pool: pg.Pool): Promise<Map<number, PartitionOwner>> {
  const { rows } = await pool.query<{
    partition: number;
    epoch: bigint;
    worker_id: string;
    acquired_at: Date;
    checkpoint_seq: bigint;
    events_through_seq: bigint;
    committed_at: Date | null;
    seconds_since_commit: number | null;
  }>(
    `SELECT partition, epoch, worker_id, acquired_at, checkpoint_seq, events_through_seq, committed_at,
            round(extract(epoch FROM now() - committed_at), 1)::float8 AS seconds_since_commit
       FROM partition_owners ORDER BY partition`,
  );
  return new Map(
    rows.map((row) => [
      row.partition,
      {
        workerId: row.worker_id,
        epoch: row.epoch.toString(),
        acquiredAt: row.acquired_at.toISOString(),
        checkpointSeq: row.checkpoint_seq.toString(),
        eventsThroughSeq: row.events_through_seq.toString(),
        committedAt: row.committed_at?.toISOString() ?? null,
        secondsSinceCommit: row.seconds_since_commit,
      },
    ]),
  );
}

interface JetStreamView {
  readonly side: NatsSide;
  /** Consumers of the command stream by name. */
  readonly consumers: ReadonlyMap<string, PartitionConsumer>;
}

/** The command stream and its consumers; an unreachable server is an answer here, not an error. */
async function readJetStream(config: Config, streamNames: Names): Promise<JetStreamView> {
  try {
    const nc = await connect({ ...natsConnectOptions(config, 'potledger-cli'), timeout: NATS_CONNECT_TIMEOUT_MS });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = await jsm.streams.info(streamNames.commandStream).catch((error: unknown) => {
        if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
        throw error;
      });
      if (stream === undefined) return { side: { reachable: true, stream: null }, consumers: new Map() };
      const consumers = new Map<string, PartitionConsumer>();
      for await (const info of jsm.consumers.list(streamNames.commandStream)) {
        consumers.set(info.name, { name: info.name, pending: info.num_pending, ackPending: info.num_ack_pending });
      }
      return { side: { reachable: true, stream: { name: streamNames.commandStream, lastSeq: stream.state.last_seq } }, consumers };
    } finally {
      await nc.close();
    }
  } catch (error) {
    return { side: { reachable: false, error: error instanceof Error ? error.message : String(error) }, consumers: new Map() };
  }
}

function humanReport(report: ShardsReport, streamNames: Names): string[] {
  const { nats } = report;
  const head = !nats.reachable
    ? `command stream ${streamNames.commandStream}: unknown (NATS out of reach)`
    : nats.stream === null
      ? `command stream ${streamNames.commandStream} does not exist: no worker has started with prefix ${report.prefix}`
      : `command stream ${nats.stream.name}: last sequence ${nats.stream.lastSeq}`;
  const rows = report.partitions.map(({ partition, owner, consumer }) => {
    if (owner === null) return [String(partition), 'unowned'];
    const sinceCommit = owner.secondsSinceCommit === null ? 'never' : `${owner.secondsSinceCommit} s`;
    const waiting = !nats.reachable ? ['?', '?'] : consumer === null ? ['no consumer', ''] : [String(consumer.pending), String(consumer.ackPending)];
    return [String(partition), owner.workerId, owner.epoch, owner.checkpointSeq, ...waiting, sinceCommit];
  });
  const table = formatTable(
    [
      { title: 'partition', align: 'right' },
      { title: 'owner' },
      { title: 'epoch', align: 'right' },
      { title: 'checkpoint', align: 'right' },
      { title: 'pending', align: 'right' },
      { title: 'ack pending', align: 'right' },
      { title: 'since commit', align: 'right' },
    ],
    rows,
  );
  return [head, ...table];
}
