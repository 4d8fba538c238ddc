import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tieTogether } from './tcp-proxy';

/**
 * A loopback TCP proxy that can hold a client's bytes on their way to the server: the moment a
 * client sends bytes containing a marker, they and everything after them from that client wait
 * until `release()`. A test uses it to keep one command in flight at a chosen point.
 */
export class HoldingProxy {
  private readonly sockets = new Set<Socket>();
  private marker: Buffer | undefined;
  private held: { upstream: Socket; chunks: Buffer[] } | undefined;
  private onHeld: (() => void) | undefined;

  private constructor(
    private readonly server: Server,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<HoldingProxy> {
    const server = createServer();
    const proxy = new HoldingProxy(server, targetPort);
    server.on('connection', (client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Holds the first client bytes containing `marker`, and what follows them; resolves once it holds. */
  holdOnClientData(marker: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no client sent "${marker}" within ${timeoutMs} ms`)), timeoutMs);
      this.marker = Buffer.from(marker);
      this.onHeld = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Sends what was held on, and forwards as before. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    this.marker = undefined;
    for (const chunk of held?.chunks ?? []) held?.upstream.write(chunk);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
    tieTogether(client, upstream, this.sockets);
    client.on('data', (chunk: Buffer) => {
      if (this.held?.upstream === upstream) {
        this.held.chunks.push(chunk);
      } else if (this.marker && !this.held && chunk.includes(this.marker)) {
        this.held = { upstream, chunks: [chunk] };
        this.onHeld?.();
      } else {
        upstream.write(chunk);
      }
    });
    upstream.pipe(client);
  }
}
