import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, credential, problemText, type Me } from './api.js';
import { Inbox } from './inbox.js';
import { SignIn } from './sign-in.js';
import './styles.css';

export type Page = 'sign-in' | 'inbox';
const PATHS: Record<Page, string> = { 'sign-in': '/console/', inbox: '/console/inbox' };
const pageOf = (pathname: string): Page => (pathname.replace(/\/+$/, '') === '/console/inbox' ? 'inbox' : 'sign-in');

function App() {
  const [page, setPage] = useState<Page>(pageOf(location.pathname));
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(credential.get() !== null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const onPop = () => setPage(pageOf(location.pathname));
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

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

  useEffect(() => {
    document.title = `${page === 'inbox' ? 'Approval inbox' : 'Sign in'} · dealstream console`;
  }, [page]);

  const go = (next: Page) => {
    if (next !== page) history.pushState(null, '', PATHS[next]);
    setPage(next);
  };
  const signedIn = (who: Me) => {
    setMe(who);
    setError(null);
    go('inbox');
  };
  const signOut = () => {
    credential.clear();
    setMe(null);
    go('sign-in');
  };

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="bar">
        <span class="brand">dealstream console</span>
        <nav aria-label="Pages">
          <a href={PATHS['sign-in']} aria-current={page === 'sign-in' ? 'page' : undefined} onClick={(e) => (e.preventDefault(), go('sign-in'))}>
            {me ? 'Account' : 'Sign in'}
          </a>
          {me && (
            <a href={PATHS.inbox} aria-current={page === 'inbox' ? 'page' : undefined} onClick={(e) => (e.preventDefault(), go('inbox'))}>
              Approval inbox
            </a>
          )}
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
        ) : page === 'inbox' && me ? (
          <Inbox me={me} />
        ) : (
          <SignIn me={me} onSignedIn={signedIn} onSignOut={signOut} notice={page === 'inbox' && !me ? 'Sign in to see the approval inbox.' : error} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
