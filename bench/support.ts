import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
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

/** The machine, software and code a measurement ran on, printed beside the numbers. */
export async function conditions(pool: pg.Pool): Promise<Record<string, string | number>> {
  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  return {
    startedAt: new Date().toISOString(),
    commit: sourceCommit(),
    machine: hostname(),
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

/**
 * The commit the benchmark runs, with "+dirty" when tracked files differ from it (the figures then
 * describe uncommitted code), or "unknown" outside a git work tree.
 */
export function sourceCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return changed === '' ? commit : `${commit}+dirty`;
  } catch {
    return 'unknown';
  }
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on every Linux we run). */
let clockTicksPerSecond: number | undefined;

function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    const reported = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    clockTicksPerSecond = Number.isInteger(reported) && reported > 0 ? reported : 100;
  }
  return clockTicksPerSecond;
}

/**
 * The CPU time (user + system, every thread) another process has used so far, in microseconds: what
 * `process.cpuUsage()` reports inside it, read from outside through /proc/<pid>/stat at the kernel's
 * clock-tick resolution (10 ms). undefined where /proc has no such process (not Linux, or it exited).
 */
export function processCpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which is in parentheses and may hold spaces): state is field 3,
  // utime field 14 and stime field 15 of proc(5), so indexes 11 and 12 here.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) return undefined;
  return (ticks * 1_000_000) / clockTicks();
}

/**
 * Measures a process's CPU time over a phase: call the returned function at the phase's end for the
 * CPU microseconds per command (null where /proc cannot tell, so that the JSON keeps the key).
 */
export function cpuMeter(pid: number | undefined): (commands: number) => number | null {
  const before = processCpuMicros(pid);
  return (commands) => {
    const after = processCpuMicros(pid);
    if (before === undefined || after === undefined || commands <= 0) return null;
    return round((after - before) / commands);
  };
}
