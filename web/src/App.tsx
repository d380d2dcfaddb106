import { type Igdm, IgdmError } from '@igdm/sdk';
import { useCallback, useEffect, useState } from 'react';
import { Inbox } from './Inbox.tsx';
import {
  answeredIdentity,
  clientFor,
  forgetKey,
  type Identity,
  identify,
  signInRefusal,
  storedKey,
  storeKey,
} from './lib/session.ts';
import { SignIn } from './SignIn.tsx';

// Signed in (a key igdm accepts, kept in localStorage) or not. A stored key shows the inbox at once
// while igdm says who it is; a key igdm then refuses signs out, saying why.

interface Session {
  client: Igdm;
  /** null while igdm has not said yet. */
  identity: Identity | null;
}

const refused = (err: unknown) => err instanceof IgdmError && (err.status === 401 || err.status === 403);

export function App() {
  const [session, setSession] = useState<Session | null>(() => {
    const key = storedKey();
    return key ? { client: clientFor(key), identity: answeredIdentity() } : null;
  });
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  // The stored key, checked (unless igdm had already said who it is before the first render).
  const checked = session?.identity != null;
  // biome-ignore lint/correctness/useExhaustiveDependencies: once, for the stored key
  useEffect(() => {
    const key = storedKey();
    if (!key || checked) return;
    identify(clientFor(key)).then(
      (identity) => setSession((s) => (s ? { ...s, identity } : s)),
      (err) => {
        // A key igdm refuses is forgotten; one it could not check (igdm down) is kept for a reload.
        if (refused(err)) forgetKey();
        setSession(null);
        setError(refused(err) ? `Signed out: ${signInRefusal(err)}` : signInRefusal(err));
      },
    );
  }, []);

  const signIn = useCallback(async (key: string) => {
    setChecking(true);
    setError(null);
    const client = clientFor(key);
    try {
      const identity = await identify(client);
      storeKey(key);
      setSession({ client, identity });
    } catch (err) {
      setError(signInRefusal(err));
    } finally {
      setChecking(false);
    }
  }, []);

  if (session)
    return (
      <Inbox
        client={session.client}
        identity={session.identity}
        onSignOut={() => {
          forgetKey();
          setSession(null);
        }}
      />
    );
  return <SignIn onKey={(key) => void signIn(key)} error={error} checking={checking} />;
}
