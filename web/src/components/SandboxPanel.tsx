import type { CustomerAction, Igdm, SandboxCustomer } from '@igdm/sdk';
import { useEffect, useState } from 'react';
import { refusalText } from '../lib/refusals.ts';

// In sandbox mode (igdm without Instagram credentials): act as a customer through the sandbox, so
// the inbox can be tried with nothing else. A DM, a story mention, a reaction to the business's
// last message, or a tap on a quick reply it offered.

type Act = 'dm' | 'story' | 'reaction' | 'quick_reply';

export interface SandboxPanelProps {
  client: Igdm;
  /** The open conversation's customer: they act by default. */
  igsid: string | null;
  /** The mid of the business's last message in the open conversation (what a reaction is to). */
  lastOutboundMid: string | null;
  onClose: () => void;
}

/** A story picture made here (the sandbox's own CDN links lead nowhere, and show as expired). */
const STORY =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="270" height="480"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">' +
      '<stop offset="0" stop-color="#feda75"/><stop offset=".5" stop-color="#d62976"/><stop offset="1" stop-color="#4f5bd5"/>' +
      '</linearGradient></defs><rect width="270" height="480" fill="url(#g)"/><text x="135" y="240" font-family="sans-serif" ' +
      'font-size="28" fill="white" text-anchor="middle">@yourshop ☕</text></svg>',
  );

export function SandboxPanel({ client, igsid, lastOutboundMid, onClose }: SandboxPanelProps) {
  const [customers, setCustomers] = useState<SandboxCustomer[]>([]);
  const [from, setFrom] = useState<string>(igsid ?? '');
  const [newName, setNewName] = useState('');
  const [act, setAct] = useState<Act>('dm');
  const [text, setText] = useState('Hi! How much is the blue mug?');
  const [storyUrl, setStoryUrl] = useState(STORY);
  const [payload, setPayload] = useState('');
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    client.sandbox.customers().then(setCustomers, () => undefined);
  }, [client]);
  useEffect(() => setFrom(igsid ?? ''), [igsid]);

  const run = async () => {
    const who = from === '' ? newName.trim() || undefined : from;
    let action: CustomerAction;
    if (act === 'dm') action = { from: who, text };
    else if (act === 'story') action = { from: who, storyMention: { url: storyUrl } };
    else if (act === 'quick_reply')
      action = { from: who, text: payload, quickReplyPayload: payload.toUpperCase().replace(/\W+/g, '_') };
    else {
      if (!lastOutboundMid)
        return setResult({ ok: false, text: 'Open a conversation with a message from you first.' });
      action = { from: who, reaction: { mid: lastOutboundMid, reaction: 'love' } };
    }
    setBusy(true);
    setResult(null);
    try {
      const r = await client.sandbox.customerActs(action);
      const ok = r.delivered.status === 200;
      setResult({
        ok,
        text: ok
          ? `@${r.username} did it.`
          : `igdm answered the webhook ${r.delivered.status}: ${r.delivered.error ?? r.delivered.body ?? ''}`,
      });
      if (from === '' && ok) {
        setFrom(r.igsid);
        client.sandbox.customers().then(setCustomers, () => undefined);
      }
    } catch (err) {
      setResult({ ok: false, text: refusalText(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="sandbox" aria-label="Simulate a customer">
      <header>
        <strong>Simulate a customer</strong>
        <span className="muted">sandbox</span>
        <button type="button" className="icon close" aria-label="Close the sandbox panel" onClick={onClose}>
          ×
        </button>
      </header>
      <label>
        Customer
        <select value={from} aria-label="Customer" onChange={(e) => setFrom(e.target.value)}>
          <option value="">A new customer…</option>
          {customers.map((c) => (
            <option key={c.igsid} value={c.igsid}>
              {c.name} (@{c.username})
            </option>
          ))}
          {igsid && !customers.some((c) => c.igsid === igsid) && (
            <option value={igsid}>This conversation's customer</option>
          )}
        </select>
      </label>
      {from === '' && (
        <input
          value={newName}
          placeholder="Their name (optional)"
          aria-label="New customer's name"
          onChange={(e) => setNewName(e.target.value)}
        />
      )}
      <div className="segmented" role="tablist">
        {(
          [
            ['dm', 'DM'],
            ['story', 'Story mention'],
            ['reaction', 'Reaction'],
            ['quick_reply', 'Quick-reply tap'],
          ] as const
        ).map(([value, label]) => (
          <button
            key={value}
            type="button"
            role="tab"
            aria-selected={act === value}
            className={act === value ? 'on' : ''}
            onClick={() => setAct(value)}
          >
            {label}
          </button>
        ))}
      </div>
      {act === 'dm' && (
        <textarea
          rows={2}
          value={text}
          aria-label="What the customer writes"
          onChange={(e) => setText(e.target.value)}
        />
      )}
      {act === 'story' && (
        <input
          type="url"
          value={storyUrl}
          aria-label="Story URL"
          onChange={(e) => setStoryUrl(e.target.value)}
        />
      )}
      {act === 'quick_reply' && (
        <input
          value={payload}
          placeholder="The quick reply's title"
          aria-label="Quick reply tapped"
          onChange={(e) => setPayload(e.target.value)}
        />
      )}
      {act === 'reaction' && <p className="muted">A ❤️ on your last message in the open conversation.</p>}
      <button
        type="button"
        className="primary"
        disabled={busy || (act === 'dm' && !text.trim())}
        onClick={run}
      >
        Send as the customer
      </button>
      {result && (
        <div className={result.ok ? 'ok' : 'refusal'} role="status">
          {result.text}
        </div>
      )}
    </section>
  );
}
