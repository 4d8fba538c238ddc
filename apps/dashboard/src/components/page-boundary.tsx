import { Component, Fragment, type ReactNode } from 'react';
import { href } from '../route';
import { Notice } from './notice';

/** What the reader sees instead of a page that failed to draw: what went wrong, and a way on. */
function PageFailure({ message, retry }: { message: string; retry(): void }) {
  return (
    <section className="page-failure" aria-labelledby="page-failure-title">
      <h2 id="page-failure-title">This page could not be shown</h2>
      <p>Something it read could not be drawn. The rest of the dashboard still works.</p>
      <Notice kind="error">{message}</Notice>
      <p className="actions">
        <button type="button" className="primary" onClick={retry}>
          Try again
        </button>
        <a href={href('/')}>Back to the overview</a>
      </p>
    </section>
  );
}

interface State {
  error: Error | null;
  /** The address the error belongs to: going anywhere else clears it. */
  address: string;
  /** Bumped by "Try again", to draw the page afresh rather than from the state that failed. */
  attempt: number;
}

/**
 * Keeps a page's failure to itself: the header, the navigation and the live status stay, and the
 * page's place says what went wrong instead of the whole app going blank.
 */
export class PageBoundary extends Component<{ address: string; children: ReactNode }, State> {
  override state: State = { error: null, address: this.props.address, attempt: 0 };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  static getDerivedStateFromProps(props: { address: string }, state: State): Partial<State> | null {
    return props.address === state.address ? null : { error: null, address: props.address };
  }

  override render() {
    const { error, attempt } = this.state;
    if (error) return <PageFailure message={error.message || error.name} retry={() => this.setState({ error: null, attempt: attempt + 1 })} />;
    return <Fragment key={attempt}>{this.props.children}</Fragment>;
  }
}
