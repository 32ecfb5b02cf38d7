import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server. `freeze()` makes every current connection a silent
 * zombie: bytes are neither forwarded nor refused and nothing is closed, as when a NAT or a dead
 * network path drops a flow. `dropAll()` destroys the current connections (a reset). New
 * connections are forwarded normally either way.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  connections = 0;
  /** The first bytes each client sent (its request head), in connection order. */
  readonly requestHeads: string[] = [];

  private constructor(private readonly targetPort: number) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy not listening');
    return address.port;
  }

  /** Connections currently forwarded (not frozen). */
  get liveConnections(): number {
    return [...this.pairs].filter((pair) => !pair.frozen && !pair.client.destroyed).length;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  freeze(): number {
    let frozen = 0;
    for (const pair of this.pairs) {
      if (pair.frozen) continue;
      pair.frozen = true;
      frozen++;
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      // Keep reading so nothing backs up into an error, but deliver nothing.
      pair.client.on('data', () => undefined);
      pair.upstream.on('data', () => undefined);
    }
    return frozen;
  }

  dropAll(): number {
    const count = [...this.pairs].filter((pair) => !pair.client.destroyed).length;
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    return count;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.connections++;
    const upstream = connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream, frozen: false };
    client.once('data', (chunk: Buffer) => this.requestHeads.push(chunk.toString('latin1')));
    this.pairs.add(pair);
    const teardown = (): void => {
      // A frozen pair keeps its other side open (a zombie, as on a real dead path) but stays
      // tracked, so dropAll() and close() still release it.
      if (!pair.frozen) {
        client.destroy();
        upstream.destroy();
      }
      if (client.destroyed && upstream.destroyed) this.pairs.delete(pair);
    };
    client.on('error', teardown).on('close', teardown);
    upstream.on('error', teardown).on('close', teardown);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
