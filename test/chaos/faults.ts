import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import type { Names } from '../../src/shards/names.js';
import { partitionOwners } from '../support/shard-checks.js';
import type { PrivateNats, PrivatePostgres } from '../support/servers.js';
import type { WorkerEnvironment, WorkerFleet, WorkerProcess } from '../support/workers.js';
import type pg from 'pg';

/**
 * The faults of the chaos run, each done to the real thing: SIGKILL of a worker process (and a fresh one
 * started in its place, as a supervisor would), SIGSTOP of a worker for longer than its lease (then
 * SIGCONT: it must find itself fenced), a crash and restart of nats-server and of Postgres, and a burst of
 * malformed messages onto the command subjects.
 */

export type FaultKind = 'kill' | 'stop' | 'nats-restart' | 'postgres-restart' | 'malformed-burst';

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly atCommand: number;
  /** When the fault ended (ISO time). */
  readonly at: string;
  readonly detail: string;
  readonly ms: number;
  /**
   * Recovery: for a kill or a freeze, from the signal until every partition the worker owned is
   * claimed by another live worker; for a server restart, from the server being up again until a
   * command published then has its outcome.
   */
  readonly recoveryMs?: number;
}

export interface FaultResult {
  readonly detail: string;
  readonly recoveryMs?: number;
}

export interface FaultContext {
  readonly fleet: WorkerFleet;
  readonly environment: WorkerEnvironment;
  readonly nats: PrivateNats;
  readonly postgres: PrivatePostgres;
  readonly owner: pg.Pool;
  readonly nc: NatsConnection;
  readonly names: Names;
  readonly partitionCount: number;
  readonly leaseTtlMs: number;
  readonly random: () => number;
  /** How long a server stays down before it is started again. */
  readonly downMs: number;
  /** Messages in the malformed burst. */
  readonly malformedCount: number;
  /** Publishes a command and resolves once its outcome is known. */
  readonly probe: () => Promise<void>;
}

/** DATABASE_IDLE_IN_TRANSACTION_MS of the workers (its default). */
const IDLE_IN_TRANSACTION_MS = 5000;
/** Longest a takeover may take before the run fails saying so. */
const TAKEOVER_MS_MAX = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pick<T>(items: readonly T[], random: () => number): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('nothing to pick from');
  return item;
}

/** A live worker that owns partitions now (any live worker when the owners cannot be read). */
async function victim(context: FaultContext): Promise<WorkerProcess> {
  const live = context.fleet.live();
  const owners = await partitionOwners(context.owner).catch(() => new Map<number, { workerId: string }>());
  const owning = new Set([...owners.values()].map((owner) => owner.workerId));
  const candidates = live.filter((worker) => owning.has(worker.workerId));
  return pick(candidates.length > 0 ? candidates : live, context.random);
}

export async function injectFault(kind: FaultKind, context: FaultContext): Promise<FaultResult> {
  switch (kind) {
    case 'kill': {
      const worker = await victim(context);
      const owned = await ownedBy(context, worker.workerId);
      const signalled = performance.now();
      await worker.kill();
      const takeover = takenOver(context, owned, worker.workerId).then(() => Math.round(performance.now() - signalled));
      const replacement = await context.fleet.start(undefined, context.environment);
      const recoveryMs = await takeover;
      return {
        detail:
          `SIGKILL ${worker.label} (${worker.workerId}, partitions ${owned.join(',')}); ` +
          `${replacement.label} started in its place; partitions claimed again in ${recoveryMs} ms`,
        recoveryMs,
      };
    }
    case 'stop': {
      const worker = await victim(context);
      const owned = await ownedBy(context, worker.workerId);
      // Past its lease, and past the idle-in-transaction timeout that frees the row locks of a commit it
      // was frozen in (until then a claim waits; were it thawed sooner it would simply keep its partitions).
      const frozenMs = context.leaseTtlMs * 3 + IDLE_IN_TRANSACTION_MS;
      const signalled = performance.now();
      worker.pause();
      const takeover = takenOver(context, owned, worker.workerId).then(() => Math.round(performance.now() - signalled));
      await sleep(frozenMs);
      worker.resume();
      const recoveryMs = await takeover;
      return {
        detail:
          `SIGSTOP ${worker.label} (${worker.workerId}, partitions ${owned.join(',')}) for ${frozenMs} ms (lease ${context.leaseTtlMs} ms), ` +
          `then SIGCONT; its partitions claimed by others in ${recoveryMs} ms`,
        recoveryMs,
      };
    }
    case 'nats-restart': {
      await context.nats.crash();
      await sleep(context.downMs);
      await context.nats.start();
      const recoveryMs = await timed(context.probe);
      return { detail: `nats-server SIGKILLed, down ${context.downMs} ms, started again on the same store; a command published then applied in ${recoveryMs} ms`, recoveryMs };
    }
    case 'postgres-restart': {
      await context.postgres.crash();
      await sleep(context.downMs);
      await context.postgres.start();
      const recoveryMs = await timed(context.probe);
      return { detail: `Postgres stopped in immediate mode, down ${context.downMs} ms, recovered from its WAL; a command published then applied in ${recoveryMs} ms`, recoveryMs };
    }
    case 'malformed-burst':
      return { detail: `${await malformedBurst(context)} malformed messages published onto the command subjects` };
  }
}

async function timed(work: () => Promise<void>): Promise<number> {
  const begun = performance.now();
  await work();
  return Math.round(performance.now() - begun);
}

async function ownedBy(context: FaultContext, workerId: string): Promise<number[]> {
  const owners = await partitionOwners(context.owner);
  return [...owners].filter(([, owner]) => owner.workerId === workerId).map(([partition]) => partition);
}

/** Resolves once each of `partitions` is owned by a live worker other than `gone`. */
async function takenOver(context: FaultContext, partitions: readonly number[], gone: string): Promise<void> {
  const started = Date.now();
  let reported = started;
  for (;;) {
    if (Date.now() - started > TAKEOVER_MS_MAX) {
      throw new Error(`partitions ${partitions.join(',')} of ${gone} were not claimed by another live worker within ${TAKEOVER_MS_MAX} ms`);
    }
    if (Date.now() - reported > 15_000) {
      reported = Date.now();
      const owners = await partitionOwners(context.owner).catch(() => undefined);
      const owning = JSON.stringify([...(owners?.entries() ?? [])].map(([p, o]) => `${p}:${o.workerId.slice(7, 15)}`));
      const live = context.fleet.live().map((w) => w.workerId.slice(7, 15)).join(',');
      const waitedSeconds = Math.round((reported - started) / 1000);
      console.error(
        `chaos: still waiting for partitions ${partitions.join(',')} of ${gone} to be claimed by a live worker (${waitedSeconds} s): ${owning}; live ${live}`,
      );
    }
    const live = new Set(context.fleet.live().map((worker) => worker.workerId));
    live.delete(gone);
    const owners = await partitionOwners(context.owner).catch(() => undefined);
    if (owners !== undefined && partitions.every((partition) => live.has(owners.get(partition)?.workerId ?? ''))) return;
    await sleep(50);
  }
}

/** Bodies no worker may apply: each must end as a poison record, and its partition must go on. */
export function malformedBodies(count: number, random: () => number): { body: Uint8Array; forgeId: boolean; reply?: string }[] {
  const encoder = new TextEncoder();
  const kinds = [
    () => ({ body: Uint8Array.from({ length: 1 + Math.floor(random() * 512) }, () => Math.floor(random() * 256)), forgeId: false }),
    () => ({ body: encoder.encode('{"commandId": "unterminated'), forgeId: false }),
    () => ({ body: encoder.encode(`${'['.repeat(5000)}${']'.repeat(5000)}`), forgeId: false }),
    () => ({ body: encoder.encode(JSON.stringify({ padding: 'x'.repeat(200_000) })), forgeId: false }),
    () => ({ body: encoder.encode(JSON.stringify({ commandId: 42, process: ['cash.deposit'], payload: 'DROP TABLE movements;' })), forgeId: false }),
    () => ({ body: encoder.encode(JSON.stringify({ commandId: "x'; DROP TABLE balances; --", process: 'cash.deposit' })), forgeId: true }),
    () => ({ body: encoder.encode('null'), forgeId: false }),
    () => ({ body: encoder.encode('"\\u0000"'), forgeId: false }),
  ];
  return Array.from({ length: count }, (_, i) => (kinds[i % kinds.length] ?? kinds[0]!)());
}

async function malformedBurst(context: FaultContext): Promise<number> {
  const js = jetstream(context.nc);
  const bodies = malformedBodies(context.malformedCount, context.random);
  let published = 0;
  for (const [index, { body, forgeId }] of bodies.entries()) {
    const partition = Math.floor(context.random() * context.partitionCount);
    const headers = natsHeaders();
    // A forged message id that is not the commandId, and a reply subject onto another partition's commands.
    if (forgeId) headers.set('Nats-Msg-Id', `forged-${index}`);
    headers.set('Potledger-Reply', context.names.commandSubject((partition + 1) % context.partitionCount));
    headers.set('Potledger-Principal', `forged\u0007principal-${index}`);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await js.publish(context.names.commandSubject(partition), body, { headers, timeout: 5000 });
        published += 1;
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(250);
      }
    }
  }
  return published;
}
