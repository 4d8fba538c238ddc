import { useEffect, useState } from 'react';

/** Where the dashboard is: the page and its parameters, from the URL's hash (`#/jobs?status=dead`). */
export interface Route {
  path: string[];
  query: URLSearchParams;
}

function parse(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

/** The current route; hash routing keeps every page a plain static file the API can serve. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parse(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** A link target for `path` with the given parameters (unset and empty ones left out). */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const text = params.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

export function navigate(target: string): void {
  window.location.hash = target.replace(/^#/, '');
}
