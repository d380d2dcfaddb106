import { type Igdm, IgdmError } from '@igdm/sdk';
import { useCallback, useEffect, useState } from 'react';
import { Inbox } from './Inbox.tsx';
import {
  clientFor,
  forgetKey,
  type Identity,
  identify,
  signInRefusal,
  storedKey,
  storeKey,
} from './lib/session.ts';
import { SignIn } from './SignIn.tsx';

// Signed in (a key igdm accepts, kept in localStorage) or not.

interface Session {
  client: Igdm;
  identity: Identity;
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);

  const signIn = useCallback(async (key: string, remembered: boolean) => {
    setChecking(true);
    setError(null);
    const client = clientFor(key);
    try {
      const identity = await identify(client);
      storeKey(key);
      setSession({ client, identity });
    } catch (err) {
      // A key igdm refuses is forgotten; one it could not check (igdm down) is kept for a reload.
      const refused = err instanceof IgdmError && (err.status === 401 || err.status === 403);
      if (remembered && refused) forgetKey();
      setError(remembered && refused ? `Signed out: ${signInRefusal(err)}` : signInRefusal(err));
    } finally {
      setChecking(false);
    }
  }, []);

  useEffect(() => {
    const key = storedKey();
    if (key) void signIn(key, true);
  }, [signIn]);

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
  if (checking && storedKey()) return <div className="splash">igdm</div>;
  return <SignIn onKey={(key) => void signIn(key, false)} error={error} checking={checking} />;
}
