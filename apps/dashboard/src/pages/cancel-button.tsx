import { useState } from 'react';
import type { Job } from '../api/types';
import { useDashboard } from '../context';

/** Cancels a job that has not started; the page learns the outcome through `done`. */
export function CancelButton({ id, done }: { id: string; done(job: Job): void }) {
  const { client, report } = useDashboard();
  const [busy, setBusy] = useState(false);
  const cancel = async () => {
    setBusy(true);
    try {
      done(await client.post<Job>(`/jobs/${id}/cancel`));
    } catch (error) {
      report(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <button type="button" className="danger" disabled={busy} onClick={() => void cancel()} aria-label={`Cancel job ${id}`}>
      Cancel
    </button>
  );
}
