import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { urlWithDatabase } from '../../src/journal/database.js';
import { ownerUrl, type TestDatabase } from './database.js';
import { natsUrl } from './nats.js';
import { waitFor, withDeadline } from './wait.js';

/**
 * Worker processes for integration tests: the real service (`src/main.ts`) in a child process of its
 * own, so a test can SIGKILL it, freeze it (SIGSTOP) and thaw it (SIGCONT) like an operating system
 * would. The child is `node --import tsx src/main.ts` (what `npx tsx src/main.ts` runs, without the
 * npm and tsx wrapper processes in between), so a signal reaches the worker itself.
 *
 * Every child is tracked: `WorkerFleet.killAll` (call it in afterAll) and, as a last resort, an exit hook
 * of the test process SIGKILL whatever is still running, so no worker outlives its test.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOG_LINES_KEPT = 5000;

/** One pino JSON line of a worker's output. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WorkerEnvironment {
  /** The schema owner's URL of the test database (the service migrates with it). */
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly prefix: string;
  readonly partitionCount: number;
  readonly leaseTtlMs?: number;
  readonly logLevel?: string;
  /** POTLEDGER_FAILPOINT, e.g. `after-commit-before-ack:3`. */
  readonly failpoint?: string;
  /** Anything else (DATABASE_SERVICE_ROLE, COMMIT_BATCH_MAX, …). */
  readonly extra?: Readonly<Record<string, string>>;
}

/** The environment of a worker of this test's database and NATS prefix. */
export function workerEnvironment(db: TestDatabase, prefix: string, partitionCount: number, more: Partial<WorkerEnvironment> = {}): WorkerEnvironment {
  return { databaseUrl: urlWithDatabase(ownerUrl(), db.name), natsUrl: natsUrl(), prefix, partitionCount, ...more };
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) {
      if (child.pid === undefined) continue;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });
}

export class WorkerProcess {
  readonly logs: LogLine[] = [];
  /** Output that is not a JSON log line (stack traces, the CLI's error text). */
  readonly rawOutput: string[] = [];
  /** The worker's id, from its "potledger is up" line. */
  workerId = '';
  #exitStatus: ExitStatus | undefined;
  readonly #exited: Promise<ExitStatus>;
  readonly #listeners = new Set<() => void>();

  private constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitStatus = { code, signal };
        running.delete(child);
        this.#changed();
        resolve(this.#exitStatus);
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => this.#record(line));
    }
  }

  /** Spawns the worker and resolves once it logged "potledger is up" (rejects if it exits first). */
  static async start(label: string, environment: WorkerEnvironment, startTimeoutMs = 30_000): Promise<WorkerProcess> {
    installExitHook();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: environment.databaseUrl,
      NATS_URL: environment.natsUrl,
      NATS_PREFIX: environment.prefix,
      PARTITION_COUNT: String(environment.partitionCount),
      HTTP_PORT: '0',
      LEASE_TTL_MS: String(environment.leaseTtlMs ?? 2000),
      LOG_LEVEL: environment.logLevel ?? 'info',
      // These tests are about the shards; the alert consumer has its own (test/integration/alerts.test.ts).
      ALERTS_ENABLED: 'false',
      ...(environment.failpoint === undefined ? {} : { POTLEDGER_FAILPOINT: environment.failpoint }),
      ...environment.extra,
    };
    if (environment.failpoint === undefined) delete env.POTLEDGER_FAILPOINT;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const worker = new WorkerProcess(label, child);
    const up = await Promise.race([
      waitFor(`worker ${label} to log "potledger is up"`, () => worker.logged('potledger is up'), { timeoutMs: startTimeoutMs, intervalMs: 25 }),
      worker.exited().then((status) => {
        throw new Error(`worker ${label} exited before it was up (${describeExit(status)}):\n${worker.tail()}`);
      }),
    ]).catch(async (error: unknown) => {
      await worker.kill();
      throw error;
    });
    worker.workerId = typeof up.workerId === 'string' ? up.workerId : '';
    return worker;
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`worker ${this.label} has no pid`);
    return pid;
  }

  get alive(): boolean {
    return this.#exitStatus === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.#exitStatus;
  }

  exited(): Promise<ExitStatus> {
    return this.#exited;
  }

  /** The first log line whose message matches. */
  logged(pattern: string | RegExp): LogLine | undefined {
    return this.logs.find((line) => matches(line.msg, pattern));
  }

  /** Every log line whose message matches. */
  loggedAll(pattern: string | RegExp): LogLine[] {
    return this.logs.filter((line) => matches(line.msg, pattern));
  }

  /** Resolves with the first line matching, as soon as it is logged. */
  async waitForLog(pattern: string | RegExp, timeoutMs = 15_000): Promise<LogLine> {
    const found = this.logged(pattern);
    if (found !== undefined) return found;
    let unsubscribe = (): void => undefined;
    const seen = new Promise<LogLine>((resolve) => {
      const listener = (): void => {
        const line = this.logged(pattern);
        if (line !== undefined) resolve(line);
      };
      this.#listeners.add(listener);
      unsubscribe = () => this.#listeners.delete(listener);
    });
    try {
      return await withDeadline(`worker ${this.label} to log ${String(pattern)}`, seen, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.tail()}`, { cause: error });
    } finally {
      unsubscribe();
    }
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<ExitStatus> {
    if (this.alive) this.#signal('SIGKILL');
    return this.#exited;
  }

  /** SIGTERM (the worker hands its partitions over), SIGKILL if it has not exited in time. */
  async stop(timeoutMs = 15_000): Promise<ExitStatus> {
    if (!this.alive) return this.#exited;
    this.#signal('SIGCONT');
    this.#signal('SIGTERM');
    const status = await withDeadline(`worker ${this.label} to exit after SIGTERM`, this.#exited, timeoutMs).catch(() => undefined);
    return status ?? this.kill();
  }

  /** Freezes the process (SIGSTOP): it holds its connections but runs nothing, like a long GC pause. */
  pause(): void {
    this.#signal('SIGSTOP');
  }

  resume(): void {
    this.#signal('SIGCONT');
  }

  /** True while the process is frozen by SIGSTOP (state T in /proc; Linux only). */
  async frozen(): Promise<boolean> {
    if (!this.alive) return false;
    const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8').catch(() => '');
    return /\) T /.test(stat);
  }

  /** The last lines of output, for failure messages. */
  tail(lines = 40): string {
    const text = [...this.logs.map((line) => JSON.stringify(line)), ...this.rawOutput];
    return `--- last output of worker ${this.label} (${this.workerId}) ---\n${text.slice(-lines).join('\n')}`;
  }

  #signal(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // exited meanwhile
    }
  }

  #record(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { msg?: unknown }).msg === 'string') {
      this.logs.push(parsed as LogLine);
      if (this.logs.length > LOG_LINES_KEPT) this.logs.splice(0, this.logs.length - LOG_LINES_KEPT);
    } else {
      this.rawOutput.push(line);
      if (this.rawOutput.length > LOG_LINES_KEPT) this.rawOutput.splice(0, this.rawOutput.length - LOG_LINES_KEPT);
    }
    this.#changed();
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** The worker processes of one test file; `killAll` in afterAll leaves none behind, even after a failure. */
export class WorkerFleet {
  readonly #all: WorkerProcess[] = [];
  #started = 0;

  constructor(private readonly environment: WorkerEnvironment) {}

  async start(label?: string, overrides: Partial<WorkerEnvironment> = {}): Promise<WorkerProcess> {
    this.#started += 1;
    const name = label ?? `w${this.#started}`;
    const pending = WorkerProcess.start(name, { ...this.environment, ...overrides });
    const worker = await pending;
    this.#all.push(worker);
    return worker;
  }

  all(): readonly WorkerProcess[] {
    return this.#all;
  }

  live(): WorkerProcess[] {
    return this.#all.filter((worker) => worker.alive);
  }

  byWorkerId(workerId: string): WorkerProcess | undefined {
    return this.#all.find((worker) => worker.workerId === workerId);
  }

  /** SIGKILLs every worker still running (thawing frozen ones first) and waits until they are gone. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.#all.map(async (worker) => {
        worker.resume();
        await worker.kill();
      }),
    );
  }

  /** The last output of every worker, for failure messages. */
  tails(lines = 20): string {
    return this.#all.map((worker) => worker.tail(lines)).join('\n');
  }
}

export function describeExit(status: ExitStatus): string {
  return status.signal === null ? `exit code ${status.code}` : `signal ${status.signal}`;
}

function matches(text: string, pattern: string | RegExp): boolean {
  return typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
}
