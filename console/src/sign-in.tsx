import { useState } from 'preact/hooks';
import { api, credential, problemText, type Me } from './api.js';

/** What each role lets a person do here (the API decides; the console only hides what it would refuse). */
const ROLE_ALLOWS: Record<string, string> = {
  admin: 'everything, approving and rejecting included',
  approver: 'approve or reject what others propose',
  operator: 'work on deals and propose actions',
  agent: 'propose actions for an agent',
  auditor: 'read the audit trail',
  integration: 'read feeds and send integration commands',
};

export function SignIn(props: { me: Me | null; onSignedIn: (me: Me) => void; onSignOut: () => void; notice: string | null }) {
  const { me } = props;
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (me) {
    return (
      <section aria-labelledby="account-heading">
        <h1 id="account-heading">Signed in</h1>
        <dl class="facts">
          <dt>Name</dt>
          <dd>{me.name}</dd>
          <dt>Principal</dt>
          <dd>
            {me.id} ({me.kind})
          </dd>
          <dt>Signed in with</dt>
          <dd>{me.credential.type === 'token' ? `a token from ${me.credential.issuer}` : 'an API key'}</dd>
          <dt>Roles</dt>
          <dd>
            <ul class="roles">
              {me.roles.map((role) => (
                <li key={role}>
                  <strong>{role}</strong>: {ROLE_ALLOWS[role] ?? 'see the API description'}
                </li>
              ))}
            </ul>
          </dd>
        </dl>
        <button type="button" onClick={props.onSignOut}>
          Sign out
        </button>
      </section>
    );
  }

  const submit = async (event: Event) => {
    event.preventDefault();
    const key = value.trim();
    if (!key) return setError('Paste a token or an API key first.');
    setBusy(true);
    setError(null);
    try {
      const who = await api.me(key);
      credential.set(key);
      setValue('');
      props.onSignedIn(who);
    } catch (e) {
      setError(problemText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="sign-in-heading">
      <h1 id="sign-in-heading">Sign in</h1>
      <p>
        Paste a token (<code>dealstream tokens issue</code>) or, for development, an API key. It is kept in this browser tab only, until you sign out or
        close the tab.
      </p>
      {props.notice && <p class="notice">{props.notice}</p>}
      <form onSubmit={submit}>
        <label for="credential">Token or API key</label>
        <input
          id="credential"
          name="credential"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
          aria-describedby={error ? 'sign-in-error' : undefined}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
