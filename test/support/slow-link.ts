import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Forwards one direction of a connection, holding each chunk back until its time, in order. */
class DelayedPipe {
  private readonly queue: { due: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly to: Socket,
    private readonly delayMs: () => number,
  ) {}

  push(chunk: Buffer): void {
    const delay = this.delayMs();
    // Straight through when nothing waits ahead of it: byte order must never change.
    if (delay === 0 && this.queue.length === 0) {
      this.to.write(chunk);
      return;
    }
    this.queue.push({ due: Date.now() + delay, chunk });
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private schedule(): void {
    const head = this.queue[0];
    if (this.timer !== undefined || !head) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue[0] && this.queue[0].due <= now) this.to.write((this.queue.shift() as { chunk: Buffer }).chunk);
      this.schedule();
    }, Math.max(0, head.due - Date.now()));
  }
}

/**
 * A loopback TCP relay that delays every chunk, both ways, by a latency set at run time: a service
 * that is slow rather than gone. Put it behind a `TcpProxy` to have both a cut and a slow link.
 */
export class SlowLink {
  private readonly sockets = new Set<Socket>();
  private readonly pipes = new Set<DelayedPipe>();
  private readonly server: Server;
  private latencyMs = 0;
  private listeningPort = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on a free loopback port and relays every connection to `targetHost:targetPort`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<SlowLink> {
    const link = new SlowLink(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      link.server.once('error', reject);
      link.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = link.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the slow link has no port');
    link.listeningPort = address.port;
    return link;
  }

  get port(): number {
    return this.listeningPort;
  }

  /** Delays each chunk sent from now on by `ms` in each direction; 0 relays at once. */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const pipe of this.pipes) pipe.stop();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    const pairs = [[client, upstream], [upstream, client]] as const;
    for (const [from, to] of pairs) {
      const pipe = new DelayedPipe(to, () => this.latencyMs);
      this.pipes.add(pipe);
      this.sockets.add(from);
      from.on('data', (chunk: Buffer) => pipe.push(chunk));
      from.on('error', () => to.destroy());
      from.on('close', () => {
        pipe.stop();
        this.pipes.delete(pipe);
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }
}
