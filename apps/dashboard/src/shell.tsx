import { useCallback, useMemo, useState, type MouseEvent } from 'react';
import { ApiError, type ApiClient } from './api/client';
import type { JobType } from './api/types';
import { Notice } from './components/notice';
import { PageBoundary } from './components/page-boundary';
import { DashboardContext, type Dashboard } from './context';
import { useLiveStats } from './live-stats';
import { DeadLetters } from './pages/dead-letters';
import { JobDetail } from './pages/job-detail';
import { Jobs } from './pages/jobs';
import { Overview } from './pages/overview';
import { Schedules } from './pages/schedules';
import { SubmitJob } from './pages/submit-job';
import { System } from './pages/system';
import { Workers } from './pages/workers';
import { href, useRoute, type Route } from './route';

const PAGES = [
  { path: '', label: 'Overview' },
  { path: 'jobs', label: 'Jobs' },
  { path: 'dead', label: 'Dead letters' },
  { path: 'schedules', label: 'Schedules' },
  { path: 'workers', label: 'Workers' },
  { path: 'system', label: 'System' },
  { path: 'submit', label: 'Submit' },
];

function page(route: Route) {
  const [section, id] = route.path;
  if (section === 'jobs' && id) return <JobDetail key={id} id={id} />;
  if (section === 'jobs') return <Jobs route={route} />;
  if (section === 'dead') return <DeadLetters route={route} />;
  if (section === 'schedules') return <Schedules route={route} />;
  if (section === 'submit') return <SubmitJob />;
  if (section === 'workers') return <Workers />;
  if (section === 'system') return <System />;
  return <Overview />;
}

/**
 * Moves the focus to the page's content. The link's own jump would not: the dashboard routes by the
 * URL's hash, so `#main` would be read as a page of that name.
 */
function skipToContent(event: MouseEvent<HTMLAnchorElement>) {
  event.preventDefault();
  document.getElementById('main')?.focus();
}

/** The dashboard once the API has let it in: the header, the navigation and the current page. */
export function Shell({ client, jobTypes, queues, unauthorized, forgetKey }: { client: ApiClient; jobTypes: JobType[]; queues: string[]; unauthorized(error: ApiError): void; forgetKey?: () => void }) {
  const route = useRoute();
  const live = useLiveStats(client, unauthorized);
  // An action that failed for another reason than the key: said at the top of the page until dismissed.
  const [problem, setProblem] = useState<string>();
  const report = useCallback(
    (error: unknown) => {
      if (error instanceof ApiError && error.isAuth) unauthorized(error);
      else setProblem(error instanceof Error ? error.message : String(error));
    },
    [unauthorized],
  );
  const dashboard = useMemo<Dashboard>(() => ({ client, jobTypes, queues, live, report }), [client, jobTypes, queues, live, report]);
  const current = route.path[0] ?? '';

  return (
    <DashboardContext.Provider value={dashboard}>
      <a className="skip" href="#main" onClick={skipToContent}>
        Skip to content
      </a>
      <header className="top">
        <h1>
          <a href={href('/')}>Sluice</a>
        </h1>
        <nav aria-label="Sections">
          {PAGES.map((entry) => (
            <a key={entry.path} href={href(`/${entry.path}`)} aria-current={current === entry.path ? 'page' : undefined}>
              {entry.label}
            </a>
          ))}
        </nav>
        <span className={`live live-${live.state}`} role="status" title={live.message}>
          {live.state === 'live' ? 'Live' : live.state === 'connecting' ? 'Connecting…' : 'Offline'}
        </span>
        {forgetKey && (
          <button type="button" className="link" onClick={forgetKey}>
            Forget key
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {problem && (
          <div className="problem">
            <Notice kind="error">{problem}</Notice>
            <button type="button" onClick={() => setProblem(undefined)}>
              Dismiss
            </button>
          </div>
        )}
        <PageBoundary address={`${route.path.join('/')}?${route.query.toString()}`}>{page(route)}</PageBoundary>
      </main>
    </DashboardContext.Provider>
  );
}
