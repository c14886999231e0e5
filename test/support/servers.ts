import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Servers of a test's or the chaos run's own: a nats-server and a PostgreSQL cluster on free ports with
 * their data in a temporary directory, which the caller may crash and restart at will without touching
 * the machine's servers (or another test's). They need the binaries the project scripts install
 * (Debian's nats-server and postgresql: `./dev services` installs them when missing); when they are
 * absent, `start` fails saying so.
 *
 * Postgres refuses to run as root: as root the cluster runs as the OS user `postgres`, which Debian's
 * package creates.
 */

const run = promisify(execFile);
const READY_MS_MAX = 30_000;

/** A TCP port nothing listens on now (the kernel's choice). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port === 0 ? reject(new Error('no free port')) : resolve(port)));
    });
  });
}

async function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1');
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = READY_MS_MAX): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function nativeBinary(candidates: readonly string[], what: string): string {
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error(`${what} not found (looked in ${candidates.join(', ')}): install it with ./dev services, or apt-get install ${what}`);
  return found;
}

function onPath(name: string): string[] {
  return (process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => join(dir, name));
}

/** A throwaway CA (`ca.pem`) and a server certificate it signed for 127.0.0.1 and localhost (`server.pem`, `server.key`), in `dir`. */
export async function makeCertificates(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=potledger test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr']);
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem']);
}

// ------------------------------------------------------------------------------------------- NATS

export interface PrivateNatsOptions {
  /** Extra configuration appended to the generated file (accounts, authorization, tls). */
  readonly config?: string;
  readonly label?: string;
}

/** A nats-server with JetStream of its own; `crash` SIGKILLs it and `start` brings it back on the same data. */
export class PrivateNats {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly monitorPort: number,
    private readonly binary: string,
  ) {}

  static async create(options: PrivateNatsOptions = {}): Promise<PrivateNats> {
    const binary = nativeBinary([...onPath('nats-server'), '/usr/sbin/nats-server', '/usr/bin/nats-server'], 'nats-server');
    const dir = await mkdtemp(join(tmpdir(), `potledger-nats-${options.label ?? 'private'}-`));
    const nats = new PrivateNats(dir, await freePort(), await freePort(), binary);
    await mkdir(join(dir, 'data'));
    await writeFile(
      join(dir, 'nats.conf'),
      [
        `listen: 127.0.0.1:${nats.port}`,
        `http: 127.0.0.1:${nats.monitorPort}`,
        'max_payload: 1MB',
        `jetstream { store_dir: "${join(dir, 'data')}", max_memory_store: 256MB, max_file_store: 4GB }`,
        options.config ?? '',
        '',
      ].join('\n'),
    );
    await nats.start();
    return nats;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  async start(): Promise<void> {
    if (this.#child !== undefined) return;
    const child = spawn(this.binary, ['-c', join(this.dir, 'nats.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    track(child);
    const record = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', record);
    child.stderr?.on('data', record);
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    await until(`nats-server on 127.0.0.1:${this.port} to report JetStream healthy`, async () => {
      if (this.#child !== child) throw new Error(`nats-server exited while starting:\n${this.#log}`);
      const health = await fetch(`http://127.0.0.1:${this.monitorPort}/healthz?js-enabled-only=true`).catch(() => undefined);
      return health?.ok === true;
    });
  }

  /** SIGKILL, as a crash of the process would (the OS keeps what it was given: nothing acknowledged is lost). */
  async crash(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  async restart(): Promise<void> {
    await this.crash();
    await this.start();
  }

  /**
   * Keeps a copy of the store as it is now (the server is stopped for the copy and started again): what
   * an OS crash would leave on disk if nothing written after this moment had been fsynced.
   */
  async snapshot(): Promise<void> {
    await this.crash();
    await rm(join(this.dir, 'snapshot'), { recursive: true, force: true });
    await cp(join(this.dir, 'data'), join(this.dir, 'snapshot'), { recursive: true });
    await this.start();
  }

  /** An OS crash of the server's host: the process dies and the store goes back to the last snapshot. */
  async crashToSnapshot(): Promise<void> {
    await this.crash();
    await rm(join(this.dir, 'data'), { recursive: true, force: true });
    await cp(join(this.dir, 'snapshot'), join(this.dir, 'data'), { recursive: true });
    await this.start();
  }

  log(): string {
    return this.#log;
  }

  async destroy(): Promise<void> {
    await this.crash();
    await rm(this.dir, { recursive: true, force: true });
  }
}

// --------------------------------------------------------------------------------------- Postgres

export interface PrivatePostgresOptions {
  /**
   * TLS only: the server presents this certificate (made by makeCertificates in `dir`), and refuses
   * every connection that is not TLS (`hostnossl … reject` in pg_hba.conf).
   */
  readonly tlsOnly?: { readonly dir: string };
}

/** A PostgreSQL cluster of its own (trust auth on 127.0.0.1); `crash` stops it in immediate mode (recovery at the next start). */
export class PrivatePostgres {
  #settings = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly osUser: string | undefined,
  ) {}

  static async create(label = 'private', options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
    const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b)) : [];
    const pgCtl = nativeBinary([...versions.reverse().map((v) => `/usr/lib/postgresql/${v}/bin/pg_ctl`), ...onPath('pg_ctl')], 'postgresql (pg_ctl)');
    const bin = pgCtl.slice(0, -'/pg_ctl'.length);
    const dir = await mkdtemp(join(tmpdir(), `potledger-pg-${label}-`));
    let osUser: string | undefined;
    if (process.getuid?.() === 0) {
      osUser = 'postgres';
      const { stdout } = await run('id', ['-u', osUser]).catch(() => ({ stdout: '' }));
      if (stdout.trim() === '') throw new Error('Postgres refuses to run as root and there is no OS user "postgres" to run it: install Debian\'s postgresql package');
      await chown(dir, Number(stdout.trim()), Number((await run('id', ['-g', osUser])).stdout.trim()));
    }
    const postgres = new PrivatePostgres(dir, await freePort(), bin, osUser);
    await postgres.#pg('initdb', ['-D', postgres.dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync']);
    if (options.tlsOnly !== undefined) await postgres.#tlsOnly(options.tlsOnly.dir);
    await postgres.start();
    clusters.add(postgres);
    hookExit();
    return postgres;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** The URL of database `database` as the superuser postgres. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    await this.#pg('pg_ctl', [
      '-D', this.dataDir, '-l', join(this.dir, 'postgres.log'), '-w', '-t', '60',
      '-o', `-p ${this.port} -k '' -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB${this.#settings}`,
      'start',
    ]);
    await until(`Postgres on 127.0.0.1:${this.port} to accept connections`, () => tcpOpen(this.port));
  }

  /** Stops every server process at once, without a checkpoint: the next start recovers from the WAL, as after a crash. */
  async crash(): Promise<void> {
    await this.#pg('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  async restart(): Promise<void> {
    await this.crash();
    await this.start();
  }

  async log(): Promise<string> {
    return readFile(join(this.dir, 'postgres.log'), 'utf8').catch(() => '');
  }

  async destroy(): Promise<void> {
    clusters.delete(this);
    await this.#pg('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The server key and certificate copied into the cluster (the key readable by its OS user only), and pg_hba refusing plain connections. */
  async #tlsOnly(certificates: string): Promise<void> {
    const ids =
      this.osUser === undefined
        ? undefined
        : { uid: Number((await run('id', ['-u', this.osUser])).stdout.trim()), gid: Number((await run('id', ['-g', this.osUser])).stdout.trim()) };
    for (const [from, to, mode] of [['server.pem', 'server.crt', 0o644], ['server.key', 'server.key', 0o600]] as const) {
      const target = join(this.dir, to);
      await cp(join(certificates, from), target);
      await chmod(target, mode);
      if (ids !== undefined) await chown(target, ids.uid, ids.gid);
    }
    const hba = join(this.dataDir, 'pg_hba.conf');
    await writeFile(hba, 'hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n');
    if (ids !== undefined) await chown(hba, ids.uid, ids.gid);
    this.#settings = ` -c ssl=on -c ssl_cert_file=${join(this.dir, 'server.crt')} -c ssl_key_file=${join(this.dir, 'server.key')}`;
  }

  /** For the exit hook: stops the cluster before the process goes. */
  stopNow(): void {
    const path = join(this.bin, 'pg_ctl');
    const args = ['-D', this.dataDir, '-m', 'immediate', 'stop'];
    try {
      if (this.osUser === undefined) execFileSync(path, args, { stdio: 'ignore' });
      else execFileSync('runuser', ['-u', this.osUser, '--', path, ...args], { stdio: 'ignore' });
    } catch {
      // not running
    }
  }

  async #pg(program: string, args: readonly string[]): Promise<void> {
    const path = join(this.bin, program);
    const [command, argv] = this.osUser === undefined ? [path, args] : ['runuser', ['-u', this.osUser, '--', path, ...args]];
    try {
      await run(command, [...argv], { cwd: this.dir, timeout: 120_000 });
    } catch (error) {
      const failure = error as { stderr?: string; message: string };
      throw new Error(`${program} ${args.at(-1) ?? ''} failed: ${failure.stderr ?? failure.message}\n${(await this.log()).slice(-2000)}`, { cause: error });
    }
  }
}

// ------------------------------------------------------------------------------------------------

const started = new Set<ChildProcess>();
const clusters = new Set<PrivatePostgres>();
let hooked = false;

function track(child: ChildProcess): void {
  started.add(child);
  child.once('exit', () => started.delete(child));
  hookExit();
}

/** No server outlives the process that started it, even when a test fails. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const server of started) server.kill('SIGKILL');
    for (const cluster of clusters) cluster.stopNow();
  });
}
