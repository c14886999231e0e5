import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
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
export async function createBenchDatabase(label: string): Promise<BenchDatabase> {
  const base = requireEnv('DATABASE_URL');
  const name = `potledger_bench_${label}_${randomBytes(3).toString('hex')}`;
  const admin = createPool(base, { max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const ownerUrl = urlWithDatabase(base, name);
  const owner = createPool(ownerUrl, { max: 4 });
  await migrate(owner);
  await ensureServiceRole(owner, 'potledger_service', process.env.DATABASE_SERVICE_PASSWORD);
  const service = createPool(urlAsRole(ownerUrl, 'potledger_service', process.env.DATABASE_SERVICE_PASSWORD), { max: 8 });
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

/**
 * Starts a worker process and resolves once it says it is up. It runs as `node --import tsx src/main.ts`,
 * with no npm or tsx wrapper in between, so SIGTERM reaches the worker itself.
 */
export async function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  // BENCH_PROFILE_DIR=<dir> writes a V8 CPU profile of each worker there (for "where the time goes").
  const profile = process.env.BENCH_PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${output}`)), 60_000);
    const check = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
      if (output.includes('potledger is up')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('exit', (code) => reject(new Error(`worker exited (${code}): ${output}`)));
  });
  // A worker that dies during a measurement must say why, or the benchmark would wait for ever.
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`worker ${child.pid} exited (code ${code}, signal ${signal}):\n${output}\n`);
  });
  return child;
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
    node: process.version,
    postgres: rows[0]?.server_version ?? 'unknown',
    natsUrl: requireEnv('NATS_URL'),
  };
}

export const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;
