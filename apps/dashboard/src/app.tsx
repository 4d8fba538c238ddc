import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiClient, ApiError } from './api/client';
import type { JobType } from './api/types';
import { storeApiKey, storedApiKey } from './api-key';
import { Notice } from './components/notice';
import { KeyPrompt } from './pages/key-prompt';
import { Shell } from './shell';

type Phase =
  | { kind: 'checking' }
  | { kind: 'needs-key'; problem?: string }
  | { kind: 'unreachable'; message: string }
  | { kind: 'ready'; jobTypes: JobType[]; queues: string[] };

/** Why a key was refused, in words. */
function keyProblem(error: ApiError, hadKey: boolean): string | undefined {
  if (error.status === 403) return 'That API key is not valid here.';
  return hadKey ? error.message : undefined;
}

/**
 * Finds out whether the API lets this tab in (asking for a key when it does not), reads what every
 * page needs once, then shows the dashboard.
 */
export function App() {
  const [apiKey, setApiKey] = useState(storedApiKey);
  const [attempt, setAttempt] = useState(0);
  const client = useMemo(() => new ApiClient(apiKey), [apiKey]);
  // What the check found, and for which key and attempt: a newer key or attempt is being checked.
  const [found, setFound] = useState<{ client: ApiClient; attempt: number; phase: Phase }>();
  const phase: Phase = found?.client === client && found.attempt === attempt ? found.phase : { kind: 'checking' };
  const setPhase = useCallback((next: Phase) => setFound({ client, attempt, phase: next }), [client, attempt]);

  useEffect(() => {
    let current = true;
    Promise.all([client.get<{ types: JobType[] }>('/job-types'), client.get<{ queues: { name: string }[] }>('/queues')]).then(
      ([types, queues]) => current && setPhase({ kind: 'ready', jobTypes: types.types, queues: queues.queues.map((queue) => queue.name) }),
      (error: unknown) => {
        if (!current) return;
        if (error instanceof ApiError && error.isAuth) setPhase({ kind: 'needs-key', problem: keyProblem(error, client.apiKey !== null) });
        else setPhase({ kind: 'unreachable', message: error instanceof Error ? error.message : String(error) });
      },
    );
    return () => {
      current = false;
    };
  }, [client, setPhase]);

  const unauthorized = useCallback(
    (error: ApiError) => {
      storeApiKey(null);
      setPhase({ kind: 'needs-key', problem: keyProblem(error, client.apiKey !== null) });
    },
    [client, setPhase],
  );
  const chooseKey = (key: string | null) => {
    storeApiKey(key);
    setApiKey(key);
  };

  switch (phase.kind) {
    case 'checking':
      return <p className="muted center">Connecting to the API…</p>;
    case 'needs-key':
      return <KeyPrompt problem={phase.problem} submit={chooseKey} />;
    case 'unreachable':
      return (
        <main className="key-prompt">
          <Notice kind="error">{phase.message}</Notice>
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            Try again
          </button>
        </main>
      );
    case 'ready':
      return <Shell client={client} jobTypes={phase.jobTypes} queues={phase.queues} unauthorized={unauthorized} forgetKey={apiKey ? () => chooseKey(null) : undefined} />;
  }
}
