// The seed's content: which customers write on which channel, how many messages each conversation
// has (a skewed spread: many short conversations, a few with hundreds of messages), when, and the
// webhook bodies Meta would deliver for them (customers' messages, and echoes of what the business
// typed in the Instagram app), escaped as Meta escapes them.

import { messagingItem, messagingWebhook, metaJson } from '../../src/sandbox/wire.ts';
import { conversationIdOf } from '../../src/store/ids.ts';
import { generator, inboundText, outboundText, type Rng, type Slots, slotsFor } from './corpus.ts';
import { CHANNELS, type ChannelSpec } from './options.ts';

const DAY = 86_400_000;
/** Conversations began within this many days before the seed. */
const HISTORY_DAYS = 90;

export interface PlannedConversation {
  index: number;
  id: string;
  channel: ChannelSpec;
  igsid: string;
  messages: number;
  slots: Slots;
}

/** The customer of conversation `index`: a 16-digit IGSID, the same every seed. */
export const igsidOf = (index: number) => String(7_000_000_000_000_000 + index * 7_919_113);

/** 70 % of the customers write to `default`, 30 % to `shop2`. */
export const channelOf = (index: number) => CHANNELS[index % 10 < 7 ? 0 : 1]!;

/** Every conversation with its message count; the counts add up to `messages` exactly. */
export function planConversations(conversations: number, messages: number): PlannedConversation[] {
  const g = generator(20_261_206);
  // Log-normal weights: a median conversation of ~12 messages, a long tail of busy ones.
  const weights = Array.from({ length: conversations }, () => Math.exp(1.1 * g.normal()));
  const total = weights.reduce((a, b) => a + b, 0);
  const extra = messages - conversations; // every conversation has at least one message
  const counts = weights.map((w) => 1 + Math.floor((w / total) * extra));
  let left = messages - counts.reduce((a, b) => a + b, 0);
  for (let i = 0; left > 0; i = (i + 1) % conversations, left--) counts[i]!++;
  return counts.map((count, index) => {
    const channel = channelOf(index);
    const igsid = igsidOf(index);
    return {
      index,
      id: conversationIdOf(channel.id, igsid),
      channel,
      igsid,
      messages: count,
      slots: slotsFor(generator(index + 1), index),
    };
  });
}

export interface SeedMessage {
  body: string;
  channelId: string;
  inbound: boolean;
  media: boolean;
}

const digits = (g: Rng, n: number) => {
  let s = String(1 + g.int(9));
  while (s.length < n) s += String(g.int(10));
  return s;
};
const cdnUrl = (g: Rng) =>
  `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${digits(g, 17)}&signature=${Buffer.from(
    digits(g, 30),
  ).toString('base64url')}`;

/** A customer's media, as Meta delivers it (Instagram sends media apart from text). */
function inboundMedia(g: Rng): unknown[] {
  const r = g.next();
  if (r < 0.6) return [{ type: 'image', payload: { url: cdnUrl(g) } }];
  if (r < 0.75) return [{ type: 'video', payload: { url: cdnUrl(g) } }];
  if (r < 0.85) return [{ type: 'audio', payload: { url: cdnUrl(g) } }];
  if (r < 0.95)
    return [
      { type: 'ig_reel', payload: { url: cdnUrl(g), title: 'New in ✨', reel_video_id: digits(g, 17) } },
    ];
  return [{ type: 'story_mention', payload: { url: cdnUrl(g) } }];
}

/**
 * The conversation's messages in order, each as the webhook body Meta delivers: the customer first,
 * then turns (a customer often writes twice in a row; the business answers once or twice). Times
 * run from a start within the last 90 days (more of them recent) to before `now`, in sessions.
 */
export function* conversationMessages(c: PlannedConversation, now: number): Generator<SeedMessage> {
  const g = generator(1_000_003 * (c.index + 1));
  const start = now - Math.floor(HISTORY_DAYS * DAY * g.next() ** 2) - 60_000;
  const gaps: number[] = [];
  for (let i = 1; i < c.messages; i++)
    gaps.push(g.chance(0.12) ? DAY * (0.2 + 5 * g.next()) : 20_000 + 600_000 * g.next() ** 2);
  const span = gaps.reduce((a, b) => a + b, 0);
  const room = now - 30_000 - start;
  const scale = span > room ? room / span : 1;
  let at = start;
  let inbound = true;
  const account = c.channel.accountId;
  for (let i = 0; i < c.messages; i++) {
    if (i > 0) {
      at += Math.max(1, Math.floor(gaps[i - 1]! * scale));
      inbound = inbound ? g.chance(0.35) : !g.chance(0.25);
    }
    const media = g.chance(inbound ? 0.07 : 0.03);
    const n = `${c.index}-${i}`;
    const message: Record<string, unknown> = inbound
      ? { mid: Buffer.from(`ig_item:1:IGMessageID:${account}:seed-${n}`).toString('base64url') }
      : { mid: `m_${Buffer.from(`seed-echo-${account}-${n}`).toString('base64url')}`, is_echo: true };
    if (media)
      message.attachments = inbound ? inboundMedia(g) : [{ type: 'image', payload: { url: cdnUrl(g) } }];
    else message.text = inbound ? inboundText(g, c.slots) : outboundText(g, c.slots);
    const [from, to] = inbound ? [c.igsid, account] : [account, c.igsid];
    const body = metaJson(messagingWebhook(account, at + 150, [messagingItem(from, to, at, { message })]));
    yield { body, channelId: c.channel.id, inbound, media };
  }
}
