import { useEffect, useState } from 'react';
import type { Waiting } from '../api/types';
import { formatDuration } from '../format';

const TITLES: Record<Waiting['reason'], string> = {
  scheduled: 'Scheduled',
  retry_backoff: 'Waiting to retry',
  paused: 'Queue paused',
  unserved: 'No worker for its type',
  rate_limit: 'Held by its type\'s rate limit',
  concurrency_cap: 'Held by its type\'s concurrency cap',
  queue_limit: 'Queue at its limits',
  group_turn: 'Waiting for its group\'s turn',
  group_cap: 'Its group is at its cap',
  in_line: 'Waiting in line',
};

/** Time left until `until`, counted down every second on the reader's clock. */
function Countdown({ until }: { until: string }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const left = Date.parse(until) - now;
  return (
    <span className="countdown" data-testid="countdown">
      {left > 0 ? `due in ${formatDuration(Math.ceil(left / 1000) * 1000)}` : 'due now'}
    </span>
  );
}

/** Why the job is not running yet, as GET /jobs/:id says, with a live countdown to a due time. */
export function WaitingReason({ waiting }: { waiting: Waiting }) {
  return (
    <section className={`card waiting waiting-${waiting.reason}`} aria-labelledby="waiting-title" data-reason={waiting.reason}>
      <h3 id="waiting-title">
        {TITLES[waiting.reason]}
        {waiting.until && <Countdown until={waiting.until} />}
      </h3>
      <p>{waiting.message}</p>
    </section>
  );
}
