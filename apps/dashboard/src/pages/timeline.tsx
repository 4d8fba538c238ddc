import type { JobEvent } from '../api/types';
import { StatusBadge } from '../components/status-badge';
import { formatDuration, formatTime } from '../format';

/** A stretch of the job's life: from one event to the next, in the state the first one entered. */
interface Span {
  event: JobEvent;
  startMs: number;
  /** Time until the next event; for the last event, until now when the job is still moving, else 0. */
  durationMs: number;
}

function spansOf(history: JobEvent[], nowMs: number, finished: boolean): Span[] {
  return history.map((event, index) => {
    const startMs = Date.parse(event.at);
    const next = history[index + 1];
    const endMs = next ? Date.parse(next.at) : finished ? startMs : nowMs;
    return { event, startMs, durationMs: Math.max(0, endMs - startMs) };
  });
}

/**
 * The job's history as a time line: one bar, each state a segment as long as the job stayed in it,
 * then every event with its time, attempt, worker, error and the wait before the next step, whose
 * bar is drawn to the same scale.
 */
export function Timeline({ history, finished, now }: { history: JobEvent[]; finished: boolean; now: number }) {
  const spans = spansOf(history, now, finished);
  const total = spans.reduce((sum, span) => sum + span.durationMs, 0);
  const longest = Math.max(1, ...spans.map((span) => span.durationMs));
  if (spans.length === 0) return <p className="muted">No history yet.</p>;

  return (
    <div className="timeline">
      <div className="timeline-bar" role="img" aria-label={`From ${spans[0]?.event.status} to ${spans.at(-1)?.event.status} in ${formatDuration(total)}`}>
        {spans
          .filter((span) => span.durationMs > 0)
          .map((span, index) => (
            <span
              key={index}
              className={`segment status-${span.event.status}`}
              style={{ flexGrow: span.durationMs }}
              title={`${span.event.status} for ${formatDuration(span.durationMs)}`}
            />
          ))}
      </div>
      <p className="muted">Total {formatDuration(total)}; each segment and each bar below is as long as the job stayed in that state.</p>
      <ol className="events">
        {spans.map((span, index) => (
          <li key={index} className="event" data-status={span.event.status}>
            <div className="event-head">
              <StatusBadge status={span.event.status} />
              <time dateTime={span.event.at}>{formatTime(span.event.at)}</time>
              <span>attempt {span.event.attempt}</span>
              {span.event.worker && <span className="mono">worker {span.event.worker}</span>}
              {span.event.reason && <span>reason: {span.event.reason}</span>}
              {span.event.nextAt && <span>next attempt at {formatTime(span.event.nextAt)}</span>}
            </div>
            {span.event.error && <pre className="error-text">{span.event.error}</pre>}
            {(span.durationMs > 0 || index < spans.length - 1) && (
              <div className="wait">
                <span className="wait-track" aria-hidden="true">
                  <span className={`wait-bar status-${span.event.status}`} style={{ width: `${(span.durationMs / longest) * 100}%` }} />
                </span>
                <span className="wait-label">
                  {formatDuration(span.durationMs)} {index < spans.length - 1 ? `until ${spans[index + 1]?.event.status}` : 'so far'}
                </span>
              </div>
            )}
          </li>
        ))}
      </ol>
    </div>
  );
}
