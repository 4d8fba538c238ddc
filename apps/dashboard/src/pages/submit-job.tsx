import { useMemo, useState, type FormEvent } from 'react';
import { ApiError } from '../api/client';
import type { AddedJob } from '../api/types';
import { Notice } from '../components/notice';
import { useDashboard } from '../context';
import { href } from '../route';
import { SchemaFields } from './schema-form';
import { fieldsOf, payloadOf } from './schema-payload';

/** Submits a test job through POST /jobs, with a form built from the chosen type's payload schema. */
export function SubmitJob() {
  const { client, jobTypes, queues, report } = useDashboard();
  const [typeName, setTypeName] = useState(jobTypes[0]?.name ?? '');
  const [queue, setQueue] = useState(queues[0] ?? '');
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [rawPayload, setRawPayload] = useState('{}');
  const [options, setOptions] = useState({ delay: '', priority: '', maxAttempts: '', idempotencyKey: '', group: '' });
  const [outcome, setOutcome] = useState<{ added?: AddedJob; error?: string }>({});
  const type = jobTypes.find((candidate) => candidate.name === typeName);
  const fields = useMemo(() => (type ? fieldsOf(type.payloadSchema) : []), [type]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const payload = fields.length > 0 ? payloadOf(fields, values) : (JSON.parse(rawPayload) as unknown);
      const body = {
        type: typeName,
        payload,
        ...(queue && { queue }),
        ...(options.delay && { delay: Number(options.delay) }),
        ...(options.priority && { priority: Number(options.priority) }),
        ...(options.maxAttempts && { maxAttempts: Number(options.maxAttempts) }),
        ...(options.idempotencyKey && { idempotencyKey: options.idempotencyKey }),
        ...(options.group && { group: options.group }),
      };
      setOutcome({ added: await client.post<AddedJob>('/jobs', body) });
    } catch (error) {
      if (error instanceof ApiError && error.isAuth) report(error);
      setOutcome({ error: error instanceof SyntaxError ? 'The payload is not valid JSON.' : error instanceof Error ? error.message : String(error) });
    }
  };

  return (
    <>
      <h2>Submit a job</h2>
      <form className="card form" onSubmit={(event) => void submit(event)} aria-label="Submit a job">
        <label>
          Type
          <select
            value={typeName}
            onChange={(event) => {
              setTypeName(event.target.value);
              setValues({});
            }}
          >
            {jobTypes.map((candidate) => (
              <option key={candidate.name}>{candidate.name}</option>
            ))}
          </select>
        </label>
        {type?.description && <p className="muted">{type.description}</p>}
        <fieldset>
          <legend>Payload</legend>
          {fields.length > 0 ? (
            <SchemaFields fields={fields} values={values} change={(name, value) => setValues((current) => ({ ...current, [name]: value }))} />
          ) : (
            <label>
              Payload (JSON object)
              <textarea rows={4} value={rawPayload} onChange={(event) => setRawPayload(event.target.value)} spellCheck={false} />
            </label>
          )}
        </fieldset>
        <fieldset>
          <legend>Options</legend>
          <label>
            Queue
            <select value={queue} onChange={(event) => setQueue(event.target.value)}>
              {queues.map((name) => (
                <option key={name}>{name}</option>
              ))}
            </select>
          </label>
          <label>
            <span>
              Delay (ms) <span className="muted">(optional)</span>
            </span>
            <input type="number" min={0} step={1} value={options.delay} onChange={(event) => setOptions({ ...options, delay: event.target.value })} />
          </label>
          <label>
            <span>
              Priority <span className="muted">(optional; −1000 to 1000, default 0; higher starts first, in bands: 100 and up, 1 to 99, 0, −1 to −99, −100 and below)</span>
            </span>
            <input type="number" min={-1000} max={1000} step={1} value={options.priority} onChange={(event) => setOptions({ ...options, priority: event.target.value })} />
          </label>
          <label>
            <span>
              Max attempts <span className="muted">(optional; the type&apos;s default is {type?.maxAttempts})</span>
            </span>
            <input type="number" min={1} max={100} step={1} value={options.maxAttempts} onChange={(event) => setOptions({ ...options, maxAttempts: event.target.value })} />
          </label>
          <label>
            <span>
              Idempotency key <span className="muted">(optional)</span>
            </span>
            <input type="text" maxLength={255} value={options.idempotencyKey} onChange={(event) => setOptions({ ...options, idempotencyKey: event.target.value })} />
          </label>
          <label>
            <span>
              Group <span className="muted">(optional; a tenant or customer, in letters, digits and _ . : @ / + = -: the queue takes its groups&apos; jobs in turn)</span>
            </span>
            <input type="text" maxLength={128} value={options.group} onChange={(event) => setOptions({ ...options, group: event.target.value })} />
          </label>
        </fieldset>
        <div>
          <button type="submit" className="primary">
            Submit job
          </button>
        </div>
      </form>
      {outcome.error && <Notice kind="error">{outcome.error}</Notice>}
      {outcome.added && (
        <Notice kind="success">
          {outcome.added.duplicate ? 'That idempotency key names an earlier job: ' : 'Submitted: '}
          <a href={href(`/jobs/${outcome.added.id}`)} className="mono">
            {outcome.added.id}
          </a>{' '}
          ({outcome.added.status})
        </Notice>
      )}
    </>
  );
}
