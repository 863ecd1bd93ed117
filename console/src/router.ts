import { useEffect, useState } from 'preact/hooks';

/**
 * The console routes in the browser: every path under /console answers index.html (see
 * src/http/console.ts), and this module turns the path into a page and its parameters.
 */
export interface Route {
  /** The page's name in PAGES (main.tsx). */
  page: string;
  /** Path parameters, e.g. `{ id }` for /console/deals/:id. */
  params: Record<string, string>;
  /** The query string's parameters (filters that a link can carry). */
  search: URLSearchParams;
}

const BASE = '/console';

/** Matches `pathname` against patterns like `/deals/:id`, in order; the first that fits wins. */
export function match(patterns: Record<string, string>, pathname: string, search = ''): Route | null {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length).replace(/\/+$/, '') || '/' : pathname;
  for (const [page, pattern] of Object.entries(patterns)) {
    const names: string[] = [];
    const source = pattern.replace(/:([A-Za-z]+)/g, (_, name: string) => (names.push(name), '([^/]+)'));
    const found = new RegExp(`^${source}$`).exec(rest);
    if (found) {
      const params = Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(found[index + 1]!)]));
      return { page, params, search: new URLSearchParams(search) };
    }
  }
  return null;
}

/** The console's URL for a path inside it, e.g. `href('/deals/1')`. */
export const href = (path: string) => `${BASE}${path === '/' ? '/' : path}`;

const listeners = new Set<() => void>();

/** Goes to a console URL without reloading (pushes history). */
export function navigate(url: string): void {
  if (url !== location.pathname + location.search) history.pushState(null, '', url);
  for (const listener of listeners) listener();
}

/** The current location, kept up to date with navigation and the back button. */
export function useLocation(): { pathname: string; search: string } {
  const [where, setWhere] = useState({ pathname: location.pathname, search: location.search });
  useEffect(() => {
    const update = () => setWhere({ pathname: location.pathname, search: location.search });
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return where;
}

/** A link inside the console: a real href (opens in a new tab, works without script), navigated in place on a plain click. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute('href')!);
}
