import type { DomainEvent, Referral } from '../meta/events.ts';
import type { NewEvent } from '../store/events.ts';

// The events a customer's webhook event gives, as seed 002 names them: every inbound message gives
// `message.received`, and a kind with its own name (a quick-reply tap, a story mention or reply, a
// shared product, a postback, a referral) gives that event too; reactions, reads, edits and unsends
// give theirs.

export interface Where {
  channelId: string;
  conversationId: string;
  /** The stored message the event is about, if any. */
  messageId: string | null;
  /** The webhook event's dedup key: the log adds each event once, however often it is applied. */
  eventKey: string;
}

export function inboundEvents(e: DomainEvent, where: Where): NewEvent[] {
  const out: NewEvent[] = [];
  const add = (event: string, data: Record<string, unknown>) =>
    out.push({
      event,
      channelId: where.channelId,
      conversationId: where.conversationId,
      data: { conversationId: where.conversationId, igsid: e.igsid, ...data },
      dedupKey: `${where.eventKey}|${'mid' in e ? e.mid : ''}|${event}`,
    });
  const message = { messageId: where.messageId };
  switch (e.kind) {
    case 'message': {
      const fields = {
        ...message,
        mid: e.mid,
        text: e.text ?? null,
        attachments: e.attachments,
        ...(e.quickReplyPayload !== undefined && { quickReplyPayload: e.quickReplyPayload }),
        ...(e.replyTo && { replyTo: e.replyTo }),
        ...(e.referral && { referral: referralData(e.referral) }),
      };
      add('message.received', fields);
      if (e.quickReplyPayload !== undefined) add('instagram.quick_reply', fields);
      if (e.attachments.some((a) => a.type === 'story_mention')) add('instagram.story_mention', fields);
      if (e.replyTo && 'story' in e.replyTo) add('instagram.story_reply', fields);
      // A shared product: the first (a customer shares one), and all of them should Meta send several.
      const products = e.attachments.flatMap((a) => a.products ?? []);
      if (products[0]) add('instagram.product_share', { ...fields, product: products[0], products });
      if (e.referral) add('instagram.referral', fields);
      break;
    }
    case 'postback': {
      const fields = {
        ...message,
        mid: e.mid ?? null,
        title: e.title ?? null,
        payload: e.payload,
        ...(e.referral && { referral: referralData(e.referral) }),
      };
      add('message.received', fields);
      add('instagram.postback', fields);
      if (e.referral) add('instagram.referral', fields);
      break;
    }
    case 'referral':
      add('instagram.referral', { referral: referralData(e.referral) });
      break;
    case 'reaction':
      add('instagram.reaction', {
        ...message,
        mid: e.mid,
        action: e.action,
        reaction: e.reaction ?? null,
        emoji: e.emoji ?? null,
      });
      break;
    case 'read':
      add('message.read', { mid: e.mid ?? null, watermark: e.watermark ?? null });
      break;
    case 'edit':
      add('message.edited', { ...message, mid: e.mid, text: e.text });
      break;
    case 'unsend':
      add('message.deleted', { ...message, mid: e.mid });
      break;
  }
  return out;
}

/** A referral as the API's messages show it (api/views.ts): the ids, and an ad's details as Meta gives them. */
const referralData = (r: Referral) => ({
  ref: r.ref ?? null,
  source: r.source ?? null,
  type: r.type ?? null,
  adId: r.adId ?? null,
  adsContextData: r.raw['ads_context_data'] ?? null,
});
