/** Writes `value` as indented JSON: what --json prints. */
export function writeJson(stream: NodeJS.WritableStream, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Rows under a header, each column as wide as its widest cell; columns of numbers are right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => String(row[column] ?? '').length)));
  const numeric = header.map((_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === 'number'));
  const line = (cells: readonly (string | number)[]) =>
    cells.map((text, column) => (numeric[column] ? String(text).padStart(widths[column] ?? 0) : String(text).padEnd(widths[column] ?? 0))).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** Text cut to `max` characters on one line, for a table cell. */
export function cell(text: string | null | undefined, max = 60): string {
  if (text === null || text === undefined) return '';
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Prints an answer: as JSON with --json, else as `text` renders it for a person. */
export function printAnswer<T>(stream: NodeJS.WritableStream, json: boolean, value: T, text: (value: T) => string): void {
  if (json) writeJson(stream, value);
  else stream.write(text(value));
}
