import { InvalidJobError } from './errors.js';

/**
 * What PostgreSQL cannot store in text or jsonb: a NUL character, and a UTF-16 surrogate without
 * its pair (JSON can spell one, `"\ud800"`, but it is no Unicode character).
 */
// eslint-disable-next-line no-control-regex -- the NUL character is exactly what is looked for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

function describeUnstorable(text: string): string {
  const match = UNSTORABLE.exec(text);
  if (!match) return '';
  return match[0] === '\u0000' ? 'a NUL character (\\u0000)' : `an unpaired surrogate (\\u${match[0].charCodeAt(0).toString(16)})`;
}

/**
 * Rejects anything in `value` that PostgreSQL could not store in the job's history, with a message
 * naming the field: a string (value or key) holding a NUL character or an unpaired surrogate.
 * Accepting one would lose the job's history later. Objects and arrays nested deeper than
 * `maxDepth` are refused too: every reader of a job (the API, the dashboard, PostgreSQL's JSON
 * parser) walks it. Walks without recursion, so no input can overflow the stack.
 */
export function assertStorable(value: unknown, path: string, maxDepth = Number.POSITIVE_INFINITY): void {
  const pending: { value: unknown; path: string; depth: number }[] = [{ value, path, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value: item, path: at, depth } = next;
    if (typeof item === 'string') {
      const problem = describeUnstorable(item);
      if (problem) throw new InvalidJobError(`${at} contains ${problem}, which cannot be stored`);
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth >= maxDepth) throw new InvalidJobError(`${path} is nested more than ${maxDepth} levels deep (PAYLOAD_MAX_DEPTH)`);
    if (Array.isArray(item)) {
      item.forEach((child, index) => pending.push({ value: child, path: `${at}[${index}]`, depth: depth + 1 }));
      continue;
    }
    for (const [key, child] of Object.entries(item)) {
      const problem = describeUnstorable(key);
      if (problem) throw new InvalidJobError(`${at} has a key containing ${problem}, which cannot be stored`);
      pending.push({ value: child, path: `${at}.${key}`, depth: depth + 1 });
    }
  }
}

/** `text` with every NUL character and unpaired surrogate replaced by U+FFFD, so PostgreSQL can store it. */
export function storableText(text: string): string {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, '\ufffd') : text;
}

/**
 * JSON text as JSON.stringify writes it, made storable: NUL characters and unpaired surrogates
 * (which JSON.stringify writes as `\u0000` and `\udXXX` escapes) in any string or key become
 * U+FFFD. Text with no such escape, the usual case, is returned as it is after one scan.
 */
export function storableJson(json: string): string {
  if (!json.includes('\\u0000') && !/\\ud[89a-f]/.test(json)) return json;
  return JSON.stringify(JSON.parse(json, (_, value: unknown) => sanitizeKeysAndStrings(value)));
}

function sanitizeKeysAndStrings(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const entries = Object.entries(value);
  if (!entries.some(([key]) => UNSTORABLE.test(key))) return value;
  return Object.fromEntries(entries.map(([key, child]) => [storableText(key), child]));
}

/**
 * Whether JSON text nests objects and arrays deeper than `limit`. Text too short to nest that deep
 * is answered without a scan.
 */
export function jsonDepthExceeds(json: string, limit: number): boolean {
  if (json.length <= 2 * limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i += 1) {
    const char = json[i];
    if (inString) {
      if (char === '\\') i += 1;
      else if (char === '"') inString = false;
    } else if (char === '"') {
      inString = true;
    } else if (char === '{' || char === '[') {
      depth += 1;
      if (depth > limit) return true;
    } else if (char === '}' || char === ']') {
      depth -= 1;
    }
  }
  return false;
}
