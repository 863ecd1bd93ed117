import { render, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, credential, problemText, type Me } from './api.js';
import { Inbox } from './inbox.js';
import { Link } from './link.js';
import { href, match, navigate, useLocation, type Route } from './router.js';
import { SignIn } from './sign-in.js';
import './styles.css';

/** What a page needs: who is signed in and where the URL points. */
export interface PageProps {
  me: Me;
  route: Route;
}

interface PageEntry {
  /** Matched against the path under /console, e.g. `/deals/:id`. */
  path: string;
  title: (route: Route) => string;
  /** In the bar, for those whose roles may use it (omit: not in the bar, e.g. a detail page). */
  nav?: { label: string; roles?: readonly string[] };
  render: (props: PageProps) => ComponentChildren;
}

/**
 * Every page of the console, in the order of the bar. A page hides itself from those whose roles
 * the API would refuse (the API decides; the console spares them the refusal).
 */
const PAGES: Record<string, PageEntry> = {
  inbox: { path: '/inbox', title: () => 'Approval inbox', nav: { label: 'Approval inbox' }, render: (props) => <Inbox me={props.me} /> },
};
const PATTERNS = Object.fromEntries(Object.entries(PAGES).map(([name, entry]) => [name, entry.path]));
const FIRST_PAGE = href('/inbox');

const mayUse = (entry: PageEntry, me: Me) => !entry.nav?.roles || me.roles.some((role) => entry.nav!.roles!.includes(role));

function App() {
  const where = useLocation();
  const route = match(PATTERNS, where.pathname, where.search);
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(credential.get() !== null);
  const [error, setError] = useState<string | null>(null);

  // A credential kept in this tab: ask who it belongs to (it may have been revoked meanwhile).
  useEffect(() => {
    if (!credential.get()) return;
    api
      .me()
      .then(setMe)
      .catch((e: unknown) => {
        credential.clear();
        setError(problemText(e));
      })
      .finally(() => setChecking(false));
  }, []);

  const entry = route && me ? PAGES[route.page] : undefined;
  useEffect(() => {
    document.title = `${entry && route ? entry.title(route) : me ? 'Account' : 'Sign in'} · dealstream console`;
  }, [entry, route?.page, route?.params.id, me]);

  const signedIn = (who: Me) => {
    setMe(who);
    setError(null);
    navigate(FIRST_PAGE);
  };
  const signOut = () => {
    credential.clear();
    setMe(null);
    navigate(href('/'));
  };

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="bar">
        <span class="brand">dealstream console</span>
        <nav aria-label="Pages">
          <Link href={href('/')} current={!route}>
            {me ? 'Account' : 'Sign in'}
          </Link>
          {me &&
            Object.entries(PAGES)
              .filter(([, page]) => page.nav && mayUse(page, me))
              .map(([name, page]) => (
                <Link key={name} href={href(page.path)} current={route?.page === name}>
                  {page.nav!.label}
                </Link>
              ))}
        </nav>
        {me && (
          <span class="who">
            {me.name} ({me.roles.join(', ')})
          </span>
        )}
      </header>
      <main id="main">
        {checking ? (
          <p role="status">Checking your sign-in…</p>
        ) : entry && me && route ? (
          entry.render({ me, route })
        ) : (
          <SignIn me={me} onSignedIn={signedIn} onSignOut={signOut} notice={route && !me ? 'Sign in to see this page.' : error} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
