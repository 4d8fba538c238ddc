import { useEffect, useState } from 'react';
import type { ApiClient, ApiError } from './api/client';
import { followStats } from './api/stats-stream';
import { addSnapshot, EMPTY, type LiveStats } from './live-history';

/**
 * The live statistics from GET /stats/stream: one connection for the whole dashboard, one update a
 * second whatever the job rate, because the API aggregates before it sends.
 */
export function useLiveStats(client: ApiClient, onUnauthorized: (error: ApiError) => void): LiveStats {
  const [live, setLive] = useState<LiveStats>(EMPTY);
  // The shell that holds this hook is mounted afresh for each key, so the history never mixes two.
  useEffect(() => {
    return followStats(client, {
      snapshot: (snapshot) => setLive((current) => addSnapshot(current, snapshot)),
      state: (state, message) => setLive((current) => (current.state === state && current.message === message ? current : { ...current, state, message })),
      unauthorized: onUnauthorized,
    });
  }, [client, onUnauthorized]);
  return live;
}
