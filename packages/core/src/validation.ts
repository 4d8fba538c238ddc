import { InvalidJobError } from './errors';

/**
 * Rejects any string (value or key) holding a NUL character anywhere in `value`: PostgreSQL cannot
 * store one in text or jsonb, so accepting it would lose the job's history later.
 */
export function assertNoNulCharacters(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw new InvalidJobError(`${path} contains a NUL character (\\u0000), which cannot be stored`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => assertNoNulCharacters(item, `${path}[${index}]`));
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) throw new InvalidJobError(`${path} has a key containing a NUL character (\\u0000)`);
      assertNoNulCharacters(item, `${path}.${key}`);
    }
  }
}
