import type { Conversation } from '@igdm/sdk';
import { useState } from 'react';

// A contact's picture (Meta's CDN link expires: then their initials, on a colour of their own).

type ContactFields = Conversation['contact'];

export const displayName = (c: { contact: ContactFields; igsid: string }) =>
  c.contact.name ?? (c.contact.username ? `@${c.contact.username}` : `Customer ${c.igsid.slice(-4)}`);

function hue(seed: string) {
  let h = 0;
  for (const ch of seed) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

export function Avatar({ contact, size = 40 }: { contact: ContactFields; size?: number }) {
  const [failed, setFailed] = useState(false);
  const label = contact.name ?? contact.username ?? '?';
  const initials = label
    .replace(/^@/, '')
    .split(/[\s._]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]!.toUpperCase())
    .join('');
  const style = { width: size, height: size, background: `hsl(${hue(contact.id)} 55% 55%)` };
  if (contact.profilePic && !failed)
    return (
      <img className="avatar" style={style} src={contact.profilePic} alt="" onError={() => setFailed(true)} />
    );
  return (
    <span className="avatar" style={style} aria-hidden="true">
      {initials || '?'}
    </span>
  );
}
