import type { ReactNode } from 'react';
import type { ListedJob } from '../api/types';
import { shortId } from '../format';
import { href } from '../route';

/** A column after the job's id, type and queue. */
export interface Column<T> {
  heading: string;
  numeric?: boolean;
  className?: string;
  cell(job: T): ReactNode;
}

/** Which rows are ticked, for actions on several jobs at once. */
export interface Selection {
  selected: ReadonlySet<string>;
  /** Ticks or unticks these ids together. */
  set(ids: readonly string[], ticked: boolean): void;
}

/**
 * A table of jobs, each linked to its detail page, with the given columns and an action cell; with
 * `selection`, a checkbox per row and one for the whole page.
 */
export function JobTable<T extends ListedJob>({ jobs, columns, actions, loading, empty, selection }: {
  jobs: T[] | undefined; columns: Column<T>[]; actions(job: T): ReactNode; loading: boolean; empty: string; selection?: Selection;
}) {
  const pageIds = jobs?.map((job) => job.id) ?? [];
  const allTicked = selection !== undefined && pageIds.length > 0 && pageIds.every((id) => selection.selected.has(id));
  return (
    <div className="card table-wrap">
      <table aria-busy={loading}>
        <thead>
          <tr>
            {selection && (
              <th scope="col" className="tick">
                <input type="checkbox" aria-label="Select every job of this page" checked={allTicked} onChange={(event) => selection.set(pageIds, event.target.checked)} />
              </th>
            )}
            <th scope="col">Job</th>
            <th scope="col">Type</th>
            <th scope="col">Queue</th>
            {columns.map((column) => (
              <th key={column.heading} scope="col" className={column.numeric ? 'num' : undefined}>
                {column.heading}
              </th>
            ))}
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {jobs?.map((job) => (
            <tr key={job.id} data-job={job.id}>
              {selection && (
                <td className="tick">
                  <input type="checkbox" aria-label={`Select job ${job.id}`} checked={selection.selected.has(job.id)} onChange={(event) => selection.set([job.id], event.target.checked)} />
                </td>
              )}
              <td className="mono">
                <a href={href(`/jobs/${job.id}`)} title={job.id} aria-label={`Job ${job.id}`}>
                  {shortId(job.id)}
                </a>
              </td>
              <td>{job.type}</td>
              <td>{job.queue}</td>
              {columns.map((column) => (
                <td key={column.heading} className={[column.numeric ? 'num' : '', column.className ?? ''].join(' ').trim() || undefined}>
                  {column.cell(job)}
                </td>
              ))}
              <td>{actions(job)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {jobs?.length === 0 && <p className="muted empty">{empty}</p>}
    </div>
  );
}
