import { useCallback, useEffect, useState } from 'react';
import { ApiError } from './api/client';
import { useDashboard } from './context';

/** The state of one API read. */
export interface Request<T> {
  data: T | undefined;
  error: string | undefined;
  /** True from a change of key (or a reload) until its answer arrives; the previous data stays meanwhile. */
  loading: boolean;
  /** Reads again. */
  reload(): void;
}

/**
 * Reads from the API whenever `key` changes, dropping answers to reads that were superseded;
 * authentication errors go to the shell, others are shown where the data would be.
 */
export function useRequest<T>(key: string, read: (signal: AbortSignal) => Promise<T>): Request<T> {
  const { report } = useDashboard();
  const [generation, setGeneration] = useState(0);
  const [answer, setAnswer] = useState<{ for: string; data: T | undefined; error: string | undefined }>({ for: '', data: undefined, error: undefined });
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  const current = `${generation}:${key}`;

  useEffect(() => {
    const controller = new AbortController();
    read(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setAnswer({ for: current, data, error: undefined });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.isAuth) report(error);
        setAnswer({ for: current, data: undefined, error: error instanceof Error ? error.message : String(error) });
      },
    );
    return () => controller.abort();
    // `read` is a new function each render; `current` names what it reads.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [current, report]);

  return { data: answer.data, error: answer.error, loading: answer.for !== current, reload };
}

/** `useRequest`, read again every `intervalMs` while the page shows it. */
export function usePolledRequest<T>(key: string, read: (signal: AbortSignal) => Promise<T>, intervalMs: number): Request<T> {
  const request = useRequest(key, read);
  const { reload } = request;
  useEffect(() => {
    const timer = setInterval(reload, intervalMs);
    return () => clearInterval(timer);
  }, [reload, intervalMs]);
  return request;
}
