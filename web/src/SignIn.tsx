import { useEffect, useRef, useState } from 'react';

// Sign in by pasting an API key: the one igdm printed at its first start, or one made for an agent.

export function SignIn({
  onKey,
  error,
  checking,
}: {
  onKey: (key: string) => void;
  error: string | null;
  checking: boolean;
}) {
  const [key, setKey] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div className="signin">
      <form
        className="signin-card"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) onKey(key.trim());
        }}
      >
        <div className="brand big">
          <span className="logo" aria-hidden="true" />
          igdm inbox
        </div>
        <p className="muted">Answer your Instagram DMs with your team.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          ref={input}
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          placeholder="igdm_…"
          onChange={(e) => setKey(e.target.value)}
        />
        {error && (
          <div className="refusal" role="alert">
            {error}
          </div>
        )}
        <button type="submit" className="primary" disabled={checking || !key.trim()}>
          {checking ? 'Checking…' : 'Sign in'}
        </button>
        <p className="hint muted">
          The key igdm printed at its first start, or one made for you with <code>POST /v1/api-keys</code>. It
          stays in this browser only.
        </p>
      </form>
    </div>
  );
}
