/** Stands for the first page in the trail of visited cursors. */
const FIRST = '-';

/**
 * Newer/older buttons over the API's keyset cursors. The cursors only lead forward, so the way back
 * is the trail of cursors already visited, kept in the URL (`previous`) with the current one (`cursor`).
 */
export function Pager({ query, nextCursor, go }: { query: URLSearchParams; nextCursor: string | null | undefined; go(page: { cursor?: string; previous?: string }): void }) {
  const cursor = query.get('cursor') ?? '';
  const trail = (query.get('previous') ?? '').split(',').filter(Boolean);
  const back = trail.at(-1);
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={back === undefined} onClick={() => go({ cursor: back === FIRST ? undefined : back, previous: trail.slice(0, -1).join(',') })}>
        ← Newer
      </button>
      <button type="button" disabled={!nextCursor} onClick={() => go({ cursor: nextCursor ?? undefined, previous: [...trail, cursor || FIRST].join(',') })}>
        Older →
      </button>
    </nav>
  );
}
