import type { EventStatus, JobEvent } from '../api/types';
import { StatusBadge } from '../components/status-badge';
import { formatDuration, formatTime } from '../format';

/** A stretch of the job's life: from one event to the next, in the state the first one entered. */
interface Span {
  event: JobEvent;
  startMs: number;
  /** Time until the next event; for the last event, until now when the job is still moving, else 0. */
  durationMs: number;
}

/** The events of one attempt (or, for attempt 0, those before the first), in a row. */
interface AttemptGroup {
  attempt: number;
  /** Index of its first span in the whole history. */
  first: number;
  spans: Span[];
}

function spansOf(history: JobEvent[], nowMs: number, finished: boolean): Span[] {
  return history.map((event, index) => {
    const startMs = Date.parse(event.at);
    const next = history[index + 1];
    const endMs = next ? Date.parse(next.at) : finished ? startMs : nowMs;
    return { event, startMs, durationMs: Math.max(0, endMs - startMs) };
  });
}

/** Consecutive events of the same attempt, together; a retried dead job starts its attempts over, so a number may come back. */
function groupsOf(spans: Span[]): AttemptGroup[] {
  const groups: AttemptGroup[] = [];
  spans.forEach((span, index) => {
    const last = groups.at(-1);
    if (last && last.attempt === span.event.attempt) last.spans.push(span);
    else groups.push({ attempt: span.event.attempt, first: index, spans: [span] });
  });
  return groups;
}

/** How an attempt ended: completed or failed if it did, else the state it left the job in. */
function outcomeOf(group: AttemptGroup): EventStatus {
  const statuses = group.spans.map((span) => span.event.status);
  if (statuses.includes('completed')) return 'completed';
  if (statuses.includes('failed')) return 'failed';
  return statuses.at(-1) ?? 'pending';
}

/**
 * The job's history as a time line: one bar, each state a segment as long as the job stayed in it,
 * then the events grouped per attempt, each group folded to one line with its outcome but the latest,
 * so a job of many attempts stays short. Each event shows its time, worker, error and the wait before
 * the next step, whose bar is drawn to the same scale.
 */
export function Timeline({ history, finished, now }: { history: JobEvent[]; finished: boolean; now: number }) {
  const spans = spansOf(history, now, finished);
  const total = spans.reduce((sum, span) => sum + span.durationMs, 0);
  const longest = Math.max(1, ...spans.map((span) => span.durationMs));
  if (spans.length === 0) return <p className="muted">No history yet.</p>;
  const groups = groupsOf(spans);

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
      <ol className="attempts">
        {groups.map((group, index) => (
          <li key={group.first} data-attempt={group.attempt}>
            <details className="attempt" open={index === groups.length - 1}>
              <summary>
                <span className="attempt-name">{group.attempt === 0 ? 'Before the first attempt' : `Attempt ${group.attempt}`}</span>
                <StatusBadge status={outcomeOf(group)} />
                <span className="muted">
                  {formatDuration(group.spans.reduce((sum, span) => sum + span.durationMs, 0))} · {group.spans.length} {group.spans.length === 1 ? 'event' : 'events'}
                </span>
              </summary>
              <ol className="events">
                {group.spans.map((span, offset) => (
                  <EventItem key={offset} span={span} next={spans[group.first + offset + 1]} longest={longest} />
                ))}
              </ol>
            </details>
          </li>
        ))}
      </ol>
    </div>
  );
}

function EventItem({ span, next, longest }: { span: Span; next: Span | undefined; longest: number }) {
  return (
    <li className="event" data-status={span.event.status}>
      <div className="event-head">
        <StatusBadge status={span.event.status} />
        <time dateTime={span.event.at}>{formatTime(span.event.at)}</time>
        <span>attempt {span.event.attempt}</span>
        {span.event.worker && <span className="mono">worker {span.event.worker}</span>}
        {span.event.reason && <span>reason: {span.event.reason}</span>}
        {span.event.nextAt && <span>next attempt at {formatTime(span.event.nextAt)}</span>}
      </div>
      {span.event.error && <pre className="error-text">{span.event.error}</pre>}
      {(span.durationMs > 0 || next) && (
        <div className="wait">
          <span className="wait-track" aria-hidden="true">
            <span className={`wait-bar status-${span.event.status}`} style={{ width: `${(span.durationMs / longest) * 100}%` }} />
          </span>
          <span className="wait-label">
            {formatDuration(span.durationMs)} {next ? `until ${next.event.status}` : 'so far'}
          </span>
        </div>
      )}
    </li>
  );
}
