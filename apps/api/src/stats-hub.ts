import { describeDependencyFailure } from './dependency-failure.js';

/** A connected client: receives each server-sent event frame, already encoded, and is ended when the hub closes. */
export interface FrameListener {
  send(frame: string): void;
  end(): void;
}

/** Default time between two snapshots. */
export const STATS_INTERVAL_MS = 1000;

/** Encodes one server-sent event: its name and its data as one line of JSON. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Reads the statistics once per tick and hands the same encoded frame to every listener, so the cost
 * in Redis is one read a second however many dashboards watch. The timer runs only while someone
 * listens, and never keeps the process alive on its own.
 */
export class StatsHub {
  private readonly listeners = new Set<FrameListener>();
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private latest: string | undefined;

  constructor(
    private readonly read: () => Promise<unknown>,
    private readonly intervalMs = STATS_INTERVAL_MS,
  ) {}

  /** Connected listeners. */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Whether the timer is running, which it does exactly while someone listens. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Adds a listener, which gets the latest frame at once when there is one; returns its removal. */
  subscribe(listener: FrameListener): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs).unref();
      void this.tick();
    } else if (this.latest !== undefined) {
      listener.send(this.latest);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Ends every listener and stops the timer. */
  close(): void {
    const listeners = [...this.listeners];
    this.listeners.clear();
    this.stop();
    for (const listener of listeners) listener.end();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.latest = undefined;
  }

  private async tick(): Promise<void> {
    // A read slower than the interval is not doubled up: that tick is skipped.
    if (this.reading) return;
    this.reading = true;
    let frame: string;
    try {
      frame = sseFrame('snapshot', await this.read());
    } catch (error) {
      frame = sseFrame('unavailable', { message: `Redis is not answering (${describeDependencyFailure(error)}).` });
    } finally {
      this.reading = false;
    }
    if (this.timer === undefined) return;
    this.latest = frame;
    for (const listener of this.listeners) listener.send(frame);
  }
}
