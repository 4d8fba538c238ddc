import type { EventStatus } from '../api/types';

/** A status as a coloured badge that also spells the status out, so colour is never the only cue. */
export function StatusBadge({ status }: { status: EventStatus | 'paused' | 'running' }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}
