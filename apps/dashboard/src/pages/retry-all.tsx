import { useState } from 'react';
import { Notice } from '../components/notice';
import { useDashboard } from '../context';
import { formatCount } from '../format';

type Step = { kind: 'idle' } | { kind: 'confirm'; count: number } | { kind: 'done'; retried: number };

/** Sends back every dead job matching a queue and type, after a confirmation that says how many. */
export function RetryAll({ queue, done }: { queue: string; done(): void }) {
  const { client, jobTypes, report } = useDashboard();
  const [type, setType] = useState('');
  const [step, setStep] = useState<Step>({ kind: 'idle' });
  const [busy, setBusy] = useState(false);
  const filter = { ...(queue && { queue }), ...(type && { type }) };
  const described = `${type ? `of type ${type}` : 'of any type'} in ${queue ? `queue ${queue}` : 'every queue'}`;

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    try {
      await action();
    } catch (error) {
      report(error);
    } finally {
      setBusy(false);
    }
  };
  const ask = () => run(async () => setStep({ kind: 'confirm', count: (await client.get<{ count: number }>('/jobs/dead/count', filter)).count }));
  const confirm = () =>
    run(async () => {
      setStep({ kind: 'done', retried: (await client.post<{ retried: number }>('/jobs/dead/retry', filter)).retried });
      done();
    });

  return (
    <section className="card retry-all" aria-labelledby="retry-all-title">
      <h3 id="retry-all-title">Retry all</h3>
      <div className="filters">
        <label>
          Type
          <select
            value={type}
            onChange={(event) => {
              setType(event.target.value);
              setStep({ kind: 'idle' });
            }}
          >
            <option value="">any</option>
            {jobTypes.map((jobType) => (
              <option key={jobType.name}>{jobType.name}</option>
            ))}
          </select>
        </label>
        <button type="button" disabled={busy || step.kind === 'confirm'} onClick={() => void ask()}>
          Retry all dead jobs {described}…
        </button>
      </div>
      {step.kind === 'confirm' &&
        (step.count === 0 ? (
          <Notice kind="info">No dead job {described}: nothing to retry.</Notice>
        ) : (
          <div className="confirm" role="alertdialog" aria-labelledby="confirm-text">
            <p id="confirm-text">
              Send <strong>{formatCount(step.count)}</strong> dead {step.count === 1 ? 'job' : 'jobs'} {described} back to their queues, attempts reset?
            </p>
            <button type="button" className="primary" disabled={busy} onClick={() => void confirm()} autoFocus>
              Retry {formatCount(step.count)} {step.count === 1 ? 'job' : 'jobs'}
            </button>
            <button type="button" disabled={busy} onClick={() => setStep({ kind: 'idle' })}>
              Keep them
            </button>
          </div>
        ))}
      {step.kind === 'done' && <Notice kind="success">{formatCount(step.retried)} {step.retried === 1 ? 'job' : 'jobs'} sent back.</Notice>}
    </section>
  );
}
