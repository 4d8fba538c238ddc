/** A stream entry read or claimed, the index in `QueueKeys.streams` of the stream that holds it (a priority band's or the grouped one), and the job it names. */
export interface StreamEntry {
  band: number;
  entryId: string;
  jobId: string;
}

/** Entries from a script's flat list {entryId, jobId, ...}, all of `band`'s stream. */
export function streamEntries(flat: readonly string[], band: number): StreamEntry[] {
  const entries: StreamEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ band, entryId: flat[i] as string, jobId: flat[i + 1] as string });
  return entries;
}

/** Entries from a script's flat list {band, entryId, jobId, ...}. */
export function bandEntries(flat: readonly (string | number)[]): StreamEntry[] {
  const entries: StreamEntry[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) entries.push({ band: Number(flat[i]), entryId: String(flat[i + 1]), jobId: String(flat[i + 2]) });
  return entries;
}

/** A stream entry's flat field list, [name, value, name, value…], as a record. */
export function entryFields(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
}
