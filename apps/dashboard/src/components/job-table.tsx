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

/** A table of jobs, each linked to its detail page, with the given columns and an action cell. */
export function JobTable<T extends ListedJob>({ jobs, columns, actions, loading, empty }: { jobs: T[] | undefined; columns: Column<T>[]; actions(job: T): ReactNode; loading: boolean; empty: string }) {
  return (
    <div className="card table-wrap">
      <table aria-busy={loading}>
        <thead>
          <tr>
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
