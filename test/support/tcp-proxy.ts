import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * Keeps a proxied connection's two sockets in `open` while they live, and ends either when the
 * other fails or closes, as a broken network path would.
 */
export function tieTogether(client: Socket, upstream: Socket, open: Set<Socket>): void {
  for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
    open.add(socket);
    socket.on('error', () => other.destroy());
    socket.on('close', () => {
      open.delete(socket);
      other.destroy();
    });
  }
}

/**
 * A loopback TCP proxy a test controls, to cut a service off from the processes that use it and
 * give it back, without touching the service itself.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private isCut = false;
  private listeningPort = 0;
  private trigger: { marker: Buffer; fire: () => void } | undefined;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on a free loopback port and forwards every connection to `targetHost:targetPort`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = proxy.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');
    proxy.listeningPort = address.port;
    return proxy;
  }

  /** The loopback port clients connect to. */
  get port(): number {
    return this.listeningPort;
  }

  /**
   * Destroys every open connection and refuses new ones. New connections are accepted and reset at
   * once rather than the port closed, so no other process can take the port while it is cut.
   */
  cut(): void {
    this.isCut = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
  }

  /**
   * Cuts (as `cut()`) the moment a client sends bytes containing `marker`, before they reach the
   * service, so the cut lands at a chosen point of a conversation, e.g. inside a transaction.
   * Resolves once it has cut; rejects if no client sent `marker` within `timeoutMs`.
   */
  cutOnClientData(marker: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.trigger = undefined;
        reject(new Error(`no client sent "${marker}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.trigger = {
        marker: Buffer.from(marker),
        fire: () => {
          clearTimeout(timer);
          this.trigger = undefined;
          this.cut();
          resolve();
        },
      };
    });
  }

  /** Forwards new connections again. */
  restore(): void {
    this.isCut = false;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.isCut) {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    // Registered before the pipe, so a chunk that fires the trigger is never forwarded.
    client.on('data', (chunk: Buffer) => {
      if (this.trigger && chunk.includes(this.trigger.marker)) this.trigger.fire();
    });
    tieTogether(client, upstream, this.sockets);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
