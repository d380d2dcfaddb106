// What a message's attachments become: each kept with Meta's type and payload whole, with the
// fields igdm reads lifted out (url, title, media id), and the products of a shared product.

import type { Attachment, Product } from './events.ts';
import { attachmentSchema, productElementSchema } from './schemas.ts';
import { defined, idOf, isRecord } from './values.ts';

export function toAttachment(rawAttachment: unknown): Attachment {
  const rawPayload =
    isRecord(rawAttachment) && isRecord(rawAttachment['payload']) ? rawAttachment['payload'] : {};
  const parsed = attachmentSchema.safeParse(rawAttachment);
  if (!parsed.success) {
    // Not an attachment shape we know: keep it whole rather than drop the message around it.
    const type =
      isRecord(rawAttachment) && typeof rawAttachment['type'] === 'string'
        ? rawAttachment['type']
        : 'unknown';
    return {
      type,
      payload:
        isRecord(rawAttachment) && isRecord(rawAttachment['payload']) ? rawPayload : { value: rawAttachment },
    };
  }
  const p: Record<string, unknown> = parsed.data.payload ?? {};
  const products = parsed.data.type === 'template' ? productsOf(p['product']) : [];
  return defined({
    type: parsed.data.type,
    url: firstOf(p, URL_KEYS, (v) => (typeof v === 'string' && v !== '' ? v : undefined)),
    title: typeof p['title'] === 'string' ? p['title'] : undefined,
    mediaId: firstOf(p, MEDIA_ID_KEYS, idOf),
    products: products.length > 0 ? products : undefined,
    payload: rawPayload,
  });
}

/**
 * Where payloads keep their link, by kind: `url` (documented), `story_media_url` (`ig_story` and
 * `story_mention` as the Dashboard's test and field captures send them), `video_url` / `image_url`
 * (seen on reels and stickers). The first present wins.
 */
const URL_KEYS = ['url', 'story_media_url', 'video_url', 'image_url'] as const;
/** And their media id: a reel's, a post's, a story's, or a bare `id` / `media_id`. */
const MEDIA_ID_KEYS = ['reel_video_id', 'ig_post_media_id', 'story_media_id', 'media_id', 'id'] as const;

function firstOf<T>(
  p: Record<string, unknown>,
  keys: readonly string[],
  read: (v: unknown) => T | undefined,
): T | undefined {
  for (const key of keys) {
    const v = read(p[key]);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * A product shared from a shop. Meta documents it for Messenger's messages webhook ("product
 * template": https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages,
 * its sample also in restfb's test resources, messaging-message-product-template.json), and a shared
 * Shop product arrives so (github.com/restfb/restfb/issues/1182):
 *   {"type":"template","payload":{"product":{"elements":[{"id","retailer_id","image_url","title",
 *   "subtitle"}]}}}
 * with the price as text in `subtitle`. Instagram's own pages document no product share; the
 * Instagram webhook is Messenger's shape elsewhere, so the same is read there. Elements without an id
 * are left out (the attachment keeps them in its payload).
 */
function productsOf(product: unknown): Product[] {
  if (!isRecord(product) || !Array.isArray(product['elements'])) return [];
  const out: Product[] = [];
  for (const element of product['elements']) {
    const parsed = productElementSchema.safeParse(element);
    if (!parsed.success) continue;
    const e = parsed.data;
    out.push(
      defined({
        id: e.id,
        retailerId: e.retailer_id ?? undefined,
        name: e.title ?? undefined,
        price: e.subtitle ?? undefined,
        imageUrl: e.image_url ?? undefined,
      }),
    );
  }
  return out;
}
