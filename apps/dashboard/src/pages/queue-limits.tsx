import { useState, type FormEvent } from 'react';
import type { FlowLimits } from '../api/types';
import { useDashboard } from '../context';
import { formatCount } from '../format';

/** Limits in a few words: "100 per 1000 ms, 5 at once, 2 per group", or "none". */
export function limitsText({ rate, concurrency, groupConcurrency }: FlowLimits): string {
  const parts = [
    rate && `${formatCount(rate.max)} per ${formatCount(rate.perMs)} ms`,
    concurrency !== undefined && `${formatCount(concurrency)} at once`,
    groupConcurrency !== undefined && `${formatCount(groupConcurrency)} per group`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/**
 * A queue's rate limit, concurrency cap and cap per fair group, with a form that sets or lifts them
 * (PUT /queues/:name/limits), and the jobs held back by their types' limits.
 */
export function QueueLimits({ name, limits, held }: { name: string; limits: FlowLimits; held: Record<string, number> }) {
  const { client, report } = useDashboard();
  const [busy, setBusy] = useState(false);
  const [max, setMax] = useState(limits.rate ? String(limits.rate.max) : '');
  const [perMs, setPerMs] = useState(limits.rate ? String(limits.rate.perMs) : '1000');
  const [concurrency, setConcurrency] = useState(limits.concurrency !== undefined ? String(limits.concurrency) : '');
  const [groupConcurrency, setGroupConcurrency] = useState(limits.groupConcurrency !== undefined ? String(limits.groupConcurrency) : '');
  const heldTypes = Object.entries(held);

  const save = async (next: FlowLimits) => {
    setBusy(true);
    try {
      await client.put(`/queues/${encodeURIComponent(name)}/limits`, next);
    } catch (error) {
      report(error);
    } finally {
      setBusy(false);
    }
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save({
      ...(max !== '' && { rate: { max: Number(max), perMs: Number(perMs) } }),
      ...(concurrency !== '' && { concurrency: Number(concurrency) }),
      ...(groupConcurrency !== '' && { groupConcurrency: Number(groupConcurrency) }),
    });
  };

  return (
    <details className="queue-limits" data-limits={limitsText(limits)}>
      <summary>
        Limits: {limitsText(limits)}
        {heldTypes.length > 0 && ` · ${heldTypes.map(([type, count]) => `${formatCount(count)} ${type} held back`).join(', ')}`}
      </summary>
      <form onSubmit={submit} aria-label={`Limits of queue ${name}`}>
        <label>
          At most <input type="number" min={1} max={100000} value={max} onChange={(event) => setMax(event.target.value)} aria-label="Starts per window" /> starts
        </label>{' '}
        <label>
          per <input type="number" min={1} max={86400000} value={perMs} onChange={(event) => setPerMs(event.target.value)} aria-label="Window in ms" /> ms
        </label>{' '}
        <label>
          and <input type="number" min={1} max={100000} value={concurrency} onChange={(event) => setConcurrency(event.target.value)} aria-label="Running at once" /> at once,
        </label>{' '}
        <label>
          <input type="number" min={1} max={100000} value={groupConcurrency} onChange={(event) => setGroupConcurrency(event.target.value)} aria-label="Jobs of one group at once" /> per
          group
        </label>
        <p className="form-actions">
          <button type="submit" className="primary" disabled={busy}>Set limits</button>
          <button type="button" disabled={busy} onClick={() => void save({})}>Lift limits</button>
        </p>
        <p className="hint">Empty fields limit nothing. Workers take a change up within a second; each partition of a partitioned queue enforces its share of the rate and the cap; a group&apos;s jobs share one partition, so its cap is not divided.</p>
      </form>
    </details>
  );
}
