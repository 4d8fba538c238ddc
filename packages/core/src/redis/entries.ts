/** A stream entry read or claimed, and the job it names. */
export interface StreamEntry {
  entryId: string;
  jobId: string;
}

/** Entries from a script's flat list {entryId, jobId, ...}. */
export function streamEntries(flat: readonly string[]): StreamEntry[] {
  const entries: StreamEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ entryId: flat[i] as string, jobId: flat[i + 1] as string });
  return entries;
}

/** A stream entry's flat field list, [name, value, name, value…], as a record. */
export function entryFields(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
}
