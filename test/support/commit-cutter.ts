import { createServer, Socket, type Server } from 'node:net';

/** `COMMIT` as node-postgres sends it: a simple-protocol Query message ('Q', length 11, the text, NUL). */
const COMMIT_QUERY = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 11]), Buffer.from('COMMIT\0', 'latin1')]);

/**
 * A TCP relay in front of a real Postgres that can lose a COMMIT's reply: once armed, the next COMMIT
 * that passes reaches the server, the server commits and answers, and the relay drops that answer and
 * cuts the connection. The client sees a broken connection and cannot tell whether its transaction
 * committed, as after a network fault or a server crash at the wrong moment. Nothing else is altered.
 */
export class CommitReplyCutter {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #armed = 0;
  #cuts = 0;

  private constructor(server: Server, readonly port: number) {
    this.#server = server;
  }

  /** Starts relaying 127.0.0.1:<port> to the Postgres at `target`. */
  static async start(target: { host: string; port: number }): Promise<CommitReplyCutter> {
    const server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
    const cutter = new CommitReplyCutter(server, port);
    server.on('connection', (client: Socket) => cutter.#relay(client, target));
    return cutter;
  }

  /** The next `times` COMMITs lose their replies. */
  arm(times = 1): void {
    this.#armed += times;
  }

  /** How many COMMIT replies were dropped so far. */
  get cuts(): number {
    return this.#cuts;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(client: Socket, target: { host: string; port: number }): void {
    const upstream = new Socket();
    this.#sockets.add(client).add(upstream);
    let cutting = false;
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      if (this.#armed > 0 && !cutting && chunk.includes(COMMIT_QUERY)) {
        this.#armed -= 1;
        cutting = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!cutting) {
        client.write(chunk);
        return;
      }
      // The server has answered the COMMIT (node-postgres sends nothing else while it waits): it committed.
      this.#cuts += 1;
      end();
    });
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.connect(target.port, target.host);
  }
}
