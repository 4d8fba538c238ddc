import { createContext, useContext } from 'react';
import type { ApiClient } from './api/client';
import type { JobType } from './api/types';
import type { LiveStats } from './live-history';

/** What every page works with: the API client, the known job types and queues, the live statistics. */
export interface Dashboard {
  client: ApiClient;
  jobTypes: JobType[];
  queues: string[];
  live: LiveStats;
  /** Hands an error to the shell, which asks for a key again when it is an authentication error. */
  report(error: unknown): void;
}

export const DashboardContext = createContext<Dashboard | null>(null);

export function useDashboard(): Dashboard {
  const dashboard = useContext(DashboardContext);
  if (!dashboard) throw new Error('useDashboard outside the dashboard');
  return dashboard;
}
