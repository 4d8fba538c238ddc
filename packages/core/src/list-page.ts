/**
 * The longest prefix of `items` whose JSON fits in `maxBytes`, never less than the first item: a page
 * that stops early so that its size, not only its number of rows, is bounded.
 */
export function takeWithinBytes<T>(items: readonly T[], maxBytes: number): T[] {
  let bytes = 0;
  let count = 0;
  for (const item of items) {
    bytes += Buffer.byteLength(JSON.stringify(item));
    if (count > 0 && bytes > maxBytes) break;
    count += 1;
  }
  return items.slice(0, count);
}
