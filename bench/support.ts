import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { cpus, loadavg, totalmem } from 'node:os';
import type pg from 'pg';
import { createPool, urlAsRole, urlWithDatabase } from '../src/journal/database.js';
import { ensureServiceRole, migrate } from '../src/journal/migrate.js';

/** Command-line flags: `--name value`, `--flag`. */
export function flags(args: readonly string[]): Map<string, string> {
  const parsed = new Map<string, string>();
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('--')) continue;
    const next = args[i + 1];
    if (next === undefined || next.startsWith('--')) parsed.set(arg.slice(2), 'true');
    else {
      parsed.set(arg.slice(2), next);
      i += 1;
    }
  }
  return parsed;
}

export function numberFlag(options: Map<string, string>, name: string, fallback: number): number {
  const value = options.get(name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative number`);
  return parsed;
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set: run benchmarks with \`npm run bench -- <name>\``);
  return value;
}

export interface BenchDatabase {
  readonly name: string;
  readonly ownerUrl: string;
  readonly owner: pg.Pool;
  readonly service: pg.Pool;
  drop(): Promise<void>;
}

/** A database of the benchmark's own, migrated; dropped at the end. */
export async function createBenchDatabase(label: string, serviceConnections = 8): Promise<BenchDatabase> {
  const base = requireEnv('DATABASE_URL');
  const name = `potledger_bench_${label}_${randomBytes(3).toString('hex')}`;
  const admin = createPool(base, { max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const ownerUrl = urlWithDatabase(base, name);
  const owner = createPool(ownerUrl, { max: 4 });
  await migrate(owner);
  await ensureServiceRole(owner, 'potledger_service', process.env.DATABASE_SERVICE_PASSWORD);
  const service = createPool(urlAsRole(ownerUrl, 'potledger_service', process.env.DATABASE_SERVICE_PASSWORD), { max: serviceConnections });
  return {
    name,
    ownerUrl,
    owner,
    service,
    async drop() {
      await service.end();
      await owner.end();
      const cleanup = createPool(base, { max: 1 });
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}

/** How `startWorker` knows the worker is up. */
export interface WorkerReadiness {
  /**
   * Poll this URL (the service's `/health/ready`) until it answers 200, rather than wait for the
   * "potledger is up" log line, which a worker started with LOG_LEVEL=warn never prints.
   */
  readonly readyUrl?: string;
}

/** How long a worker may take to start, in either way of telling. */
const WORKER_START_MS_MAX = 60_000;
const READY_POLL_MS = 100;

/**
 * Deletes what a bench's workers kept in JetStream under `prefix`: the command and event streams and
 * the KV buckets (streams named KV_<bucket>), so that runs do not pile up on the nats-server.
 */
export async function deleteBenchStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: requireEnv('NATS_URL'), name: 'potledger-bench-cleanup' });
  try {
    const jsm = await jetstreamManager(nc);
    const owned: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${prefix}-`) || name.startsWith(`KV_${prefix}-`)) owned.push(name);
    }
    for (const name of owned) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

/**
 * Starts a worker process and resolves once it says it is up (or, given `readyUrl`, once that answers
 * 200). It runs as `node --import tsx src/main.ts`, with no npm or tsx wrapper in between, so SIGTERM
 * reaches the worker itself.
 */
export async function startWorker(env: Record<string, string>, readiness: WorkerReadiness = {}): Promise<ChildProcess> {
  // BENCH_PROFILE_DIR=<dir> writes a V8 CPU profile of each worker there (for "where the time goes").
  const profile = process.env.BENCH_PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts'], {
    // The benchmarks measure the ledger; the alert consumer (one per deployment) runs apart from the workers.
    env: { ...process.env, HTTP_PORT: '0', LOG_LEVEL: 'info', ALERTS_ENABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within ${WORKER_START_MS_MAX} ms: ${output}`)), WORKER_START_MS_MAX);
    const up = () => {
      clearTimeout(timer);
      resolve();
    };
    const check = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
      if (readiness.readyUrl === undefined && output.includes('potledger is up')) up();
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}): ${output}`));
    });
    if (readiness.readyUrl !== undefined) void pollReady(readiness.readyUrl, child).then((ready) => ready && up());
  });
  // A worker that dies during a measurement must say why, or the benchmark would wait for ever.
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`worker ${child.pid} exited (code ${code}, signal ${signal}):\n${output}\n`);
  });
  return child;
}

/**
 * True once `url` answers 200; false when the worker exits or the start limit passes first (the exit
 * handler or the start timeout then rejects).
 */
async function pollReady(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + WORKER_START_MS_MAX;
  while (child.exitCode === null && Date.now() < deadline) {
    const status = await fetch(url).then(
      async (response) => {
        await response.arrayBuffer();
        return response.status;
      },
      () => 0,
    );
    if (status === 200) return true;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  return false;
}

/** A TCP port free on 127.0.0.1 just now (the OS picks it), for a worker's HTTP_PORT. */
export { freePort } from '../test/support/servers.js';

/** Resolves once the worker(s) own every partition (rows in partition_owners), within 60 s. */
export async function waitForPartitionOwners(pool: pg.Pool, partitions: number): Promise<void> {
  const deadline = Date.now() + WORKER_START_MS_MAX;
  while (Date.now() < deadline) {
    const { rows } = await pool.query<{ owned: string }>('SELECT count(*) AS owned FROM partition_owners');
    if (Number(rows[0]?.owned ?? 0) === partitions) return;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new Error(`the worker did not take all ${partitions} partitions within ${WORKER_START_MS_MAX} ms`);
}

export async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN;
}

/** The machine and software a measurement ran on, printed beside the numbers. */
export async function conditions(pool: pg.Pool): Promise<Record<string, string | number>> {
  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    // Other work on the machine at the start: a busy machine makes every latency longer.
    loadAverage1m: round(loadavg()[0] ?? 0, 2),
    node: process.version,
    postgres: rows[0]?.server_version ?? 'unknown',
    natsUrl: requireEnv('NATS_URL'),
  };
}

export const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;
