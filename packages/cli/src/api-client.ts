import { UsageError, stringOption, type OptionSpecs, type ParsedArgs } from './command-line.js';
import { messageOf } from './message-of.js';

/** Where the API is and the key to show it. */
export interface Connection {
  url: string;
  apiKey: string | undefined;
}

/** The options of every command that talks to the API. */
export const connectionOptions: OptionSpecs = {
  url: { type: 'string', value: 'URL', description: 'the API\'s address (default: SLUICE_URL, else http://127.0.0.1:$PORT, PORT defaulting to 3000)' },
  'api-key': { type: 'string', value: 'KEY', description: 'one of the API\'s API_KEYS, sent as a bearer token (default: SLUICE_API_KEY)' },
};

/** The connection a command line asks for: --url, else SLUICE_URL, else the local port; --api-key, else SLUICE_API_KEY. */
export function connectionOf(args: ParsedArgs, env: NodeJS.ProcessEnv): Connection {
  const given = stringOption(args, 'url');
  const [url, source] = given !== undefined ? [given, '--url'] : env.SLUICE_URL ? [env.SLUICE_URL, 'SLUICE_URL'] : [`http://127.0.0.1:${env.PORT || 3000}`, 'PORT'];
  if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw new UsageError(`${source} must make an http(s) URL such as http://127.0.0.1:3000, got "${url}"`);
  }
  return { url: url.replace(/\/+$/, ''), apiKey: stringOption(args, 'api-key') ?? (env.SLUICE_API_KEY || undefined) };
}

/** The API answered with an error: its status, and the code and message of its `{ error }` body. */
export class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The body as the API sent it, for --json. */
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiRefusal';
  }
}

/** No answer from the API at all. */
export class ApiUnreachable extends Error {
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`cannot reach the Sluice API at ${url} (${reason}); is it running? Point --url or SLUICE_URL at it`);
    this.name = 'ApiUnreachable';
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
};

/** Why fetch failed, in a few words: its error's cause carries the system error code. */
function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return (cause?.code && NETWORK_REASONS[cause.code]) ?? cause?.code ?? cause?.message ?? messageOf(error);
}

export type Query = Readonly<Record<string, string | number | undefined>>;

/** JSON over HTTP to the Sluice API, with its errors as ApiRefusal and ApiUnreachable. */
export class ApiClient {
  constructor(
    readonly connection: Connection,
    private readonly timeoutMs = 30_000,
  ) {}

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>('GET', path + queryString(query));
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  private async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.connection.apiKey) headers.authorization = `Bearer ${this.connection.apiKey}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.connection.url + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new ApiUnreachable(this.connection.url, networkReason(error, this.timeoutMs));
    }
    if (response.status === 204) return undefined as T;
    const parsed = parseJson(text);
    if (response.ok && parsed.ok) return parsed.value as T;
    const error = parsed.ok ? (parsed.value as { error?: { code?: unknown; message?: unknown } } | null)?.error : undefined;
    if (typeof error?.code === 'string' && typeof error.message === 'string') throw new ApiRefusal(response.status, error.code, error.message, parsed.ok ? parsed.value : text);
    // Not Sluice's answer: a proxy's error page, or something else listening on that port.
    throw new ApiRefusal(response.status, 'UNEXPECTED_ANSWER', `${method} ${this.connection.url}${path} answered ${response.status} ${response.statusText} with a body that is not the Sluice API's JSON`, text);
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function queryString(query: Query): string {
  const entries = Object.entries(query).filter((entry): entry is [string, string | number] => entry[1] !== undefined);
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([key, value]): [string, string] => [key, String(value)]))}`;
}

/** A client for the connection a command line asks for. */
export function clientFor(args: ParsedArgs, env: NodeJS.ProcessEnv): ApiClient {
  return new ApiClient(connectionOf(args, env));
}
