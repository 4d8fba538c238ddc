import { useCallback, useMemo, useState } from 'react';
import type { ActionTally, JobAction } from '../api/types';
import type { Selection } from '../components/job-table';
import { Notice } from '../components/notice';
import { useDashboard } from '../context';
import { formatCount } from '../format';

/** One action the bar offers, as its button says it. */
export interface BulkAction {
  action: JobAction;
  label: string;
  /** What it does to a job, after "Retry 3 jobs": "back to their queues, attempts reset". */
  effect: string;
  danger?: boolean;
}

/** Everything matching the page's filter: how to count it for an action, and how to act on it. */
export interface Matching {
  /** The filter in words: "dead jobs of queue default". */
  described: string;
  count(action: JobAction): Promise<number>;
  run(action: JobAction): Promise<ActionTally>;
}

type Target = { kind: 'selected'; ids: string[] } | { kind: 'matching' };
type Step = { kind: 'idle' } | { kind: 'confirm'; action: BulkAction; target: Target; count: number } | { kind: 'done'; action: BulkAction; tally: ActionTally };

const jobs = (count: number) => `${formatCount(count)} ${count === 1 ? 'job' : 'jobs'}`;

/**
 * Actions on several jobs: the ticked ones, or (after "select all matching") every job matching the
 * page's filter. Each asks first, with the count (the API's, for everything matching), and reports
 * how many were done, left alone for their state, or not found.
 */
export function BulkActions({ actions, selection, matching, done }: { actions: readonly BulkAction[]; selection: Selection; matching: Matching; done(): void }) {
  const { client, report } = useDashboard();
  const [allMatching, setAllMatching] = useState(false);
  const [step, setStep] = useState<Step>({ kind: 'idle' });
  const [busy, setBusy] = useState(false);
  const ids = [...selection.selected];

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    try {
      await work();
    } catch (error) {
      report(error);
    } finally {
      setBusy(false);
    }
  };
  const ask = (action: BulkAction) =>
    run(async () => {
      const target: Target = allMatching ? { kind: 'matching' } : { kind: 'selected', ids };
      setStep({ kind: 'confirm', action, target, count: target.kind === 'matching' ? await matching.count(action.action) : ids.length });
    });
  const confirm = (action: BulkAction, target: Target) =>
    run(async () => {
      const tally = target.kind === 'matching' ? await matching.run(action.action) : await client.post<ActionTally>(`/jobs/actions/${action.action}`, { ids: target.ids });
      setStep({ kind: 'done', action, tally });
      setAllMatching(false);
      selection.set(ids, false);
      done();
    });
  const clear = () => {
    setAllMatching(false);
    selection.set(ids, false);
    setStep({ kind: 'idle' });
  };

  return (
    <section className="card bulk-actions" aria-label="Actions on several jobs">
      <div className="filters">
        <span role="status">{allMatching ? `All ${matching.described} selected` : `${jobs(ids.length)} selected`}</span>
        {!allMatching && (
          <button type="button" onClick={() => setAllMatching(true)}>
            Select all {matching.described}
          </button>
        )}
        {(allMatching || ids.length > 0) && (
          <button type="button" onClick={clear}>
            Clear selection
          </button>
        )}
        {actions.map((action) => (
          <button key={action.action} type="button" className={action.danger ? 'danger' : 'primary'} disabled={busy || (!allMatching && ids.length === 0)} onClick={() => void ask(action)}>
            {action.label}…
          </button>
        ))}
      </div>
      {step.kind === 'confirm' &&
        (step.count === 0 ? (
          <Notice kind="info">No job to {step.action.label.toLowerCase()}: nothing matches.</Notice>
        ) : (
          <div className="confirm" role="alertdialog" aria-labelledby="bulk-confirm-text">
            <p id="bulk-confirm-text">
              {step.action.label} <strong>{jobs(step.count)}</strong>
              {step.target.kind === 'matching' ? ` (all ${matching.described})` : ''}: {step.action.effect}? Jobs whose state no longer allows it are left alone.
            </p>
            <button type="button" className={step.action.danger ? 'danger' : 'primary'} disabled={busy} onClick={() => void confirm(step.action, step.target)} autoFocus>
              {step.action.label} {jobs(step.count)}
            </button>
            <button type="button" disabled={busy} onClick={() => setStep({ kind: 'idle' })}>
              Keep them
            </button>
          </div>
        ))}
      {step.kind === 'done' && (
        <Notice kind="success">
          {step.action.label}: {jobs(step.tally.done)} done, {formatCount(step.tally.conflict)} left alone for their state, {formatCount(step.tally.notFound)} not found.
        </Notice>
      )}
    </section>
  );
}

/** The ticked rows of a list; cleared when `resetKey` (the list's filter) changes, kept across its pages. */
export function useSelection(resetKey: string): Selection {
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [key, setKey] = useState(resetKey);
  if (key !== resetKey) {
    setKey(resetKey);
    setSelected(new Set());
  }
  const set = useCallback((ids: readonly string[], ticked: boolean) => {
    setSelected((before) => {
      const next = new Set(before);
      for (const id of ids) {
        if (ticked) next.add(id);
        else next.delete(id);
      }
      return next;
    });
  }, []);
  return useMemo(() => ({ selected, set }), [selected, set]);
}
