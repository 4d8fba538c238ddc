import type { ReactNode } from 'react';
import type { Request } from '../use-request';
import { Notice } from './notice';

/** A page of one read: its title, then what the read found, or why it found nothing, or that it is under way. */
export function PolledPage<T>({ title, request, children }: { title: string; request: Request<T>; children: (data: T) => ReactNode }) {
  return (
    <>
      <h2>{title}</h2>
      {request.error && <Notice kind="error">{request.error}</Notice>}
      {request.data === undefined ? !request.error && <p className="muted">Loading…</p> : children(request.data)}
    </>
  );
}

/** A titled card of a page; `id` names its heading, which labels it. */
export function CardSection({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section className="card" aria-labelledby={id}>
      <h3 id={id}>{title}</h3>
      {children}
    </section>
  );
}
