import { useEffect, useRef, useState } from 'react';
import { type KeptCopy, keptSrc } from '../lib/kept.ts';
import { uploadPreview } from '../lib/uploads.ts';

// What a message carries besides its text, each kind for what it is: media with players, stories
// (and "story expired" once Meta's CDN link no longer loads), reels, posts and shares as cards,
// shop products, the templates igdm sent, the heart sticker, and what Instagram keeps to itself.

/** An attachment as igdm stores it: Meta's type and payload, with url, title and ids lifted out. */
export interface AttachmentJson {
  type: string;
  url?: string;
  title?: string;
  mediaId?: string;
  products?: { id: string; retailerId?: string; name?: string; price?: string; imageUrl?: string }[];
  payload?: Record<string, unknown>;
  /** igdm's copy, for when Meta's link has expired. */
  kept?: KeptCopy;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function urlOf(a: AttachmentJson): string | undefined {
  return a.url ?? str(a.payload?.['url']);
}

/** On a link that no longer loads: igdm's copy when it has one, else the failure. */
function useFallback(url: string | undefined, kept: KeptCopy | undefined) {
  const [src, setSrc] = useState(url);
  const [failed, setFailed] = useState(!url && !kept);
  const fail = () => {
    if (kept && !src?.startsWith('blob:')) keptSrc(kept).then(setSrc, () => setFailed(true));
    else setFailed(true);
  };
  const first = useRef(fail);
  // No link at all (Meta gave none): the copy straight away.
  useEffect(() => {
    if (!url && kept) first.current();
  }, [url, kept]);
  return { src, failed, fail };
}

/** Media from Meta's CDN: shown while the link loads, then igdm's copy, else what it was. */
function Media({
  kind,
  url: link,
  gone,
  kept,
}: {
  kind: 'image' | 'video' | 'audio';
  url: string;
  gone: string;
  kept?: KeptCopy;
}) {
  const { src, failed, fail } = useFallback(link, kept);
  if (failed || !src) return <div className="media-gone">{gone}</div>;
  const url = src;
  if (kind === 'video')
    // biome-ignore lint/a11y/useMediaCaption: a customer's DM media comes without captions
    return <video className="media" src={url} controls preload="metadata" onError={fail} />;
  // biome-ignore lint/a11y/useMediaCaption: a customer's DM media comes without captions
  if (kind === 'audio') return <audio src={url} controls preload="metadata" onError={fail} />;
  return (
    <a href={url} target="_blank" rel="noopener noreferrer">
      <img className="media" src={url} alt="" loading="lazy" onError={fail} />
    </a>
  );
}

/** A story the customer mentioned the account in, or replied to. */
export function Story({
  url: link,
  label,
  kept,
}: {
  url: string | undefined;
  label: string;
  kept?: KeptCopy;
}) {
  const { src: url, failed, fail } = useFallback(link, kept);
  return (
    <div className="card story" data-kind="story">
      <div className="card-label">{label}</div>
      {failed ? (
        <div className="media-gone story-expired">Story expired</div>
      ) : (
        <a href={url} target="_blank" rel="noopener noreferrer">
          <img className="media story-media" src={url} alt="The story" loading="lazy" onError={fail} />
        </a>
      )}
    </div>
  );
}

function ShareCard({ a, label }: { a: AttachmentJson; label: string }) {
  const url = urlOf(a);
  const title = a.title ?? str(a.payload?.['title']);
  const isVideo = /reel/i.test(a.type);
  return (
    <div className="card share" data-kind={a.type}>
      <div className="card-label">{label}</div>
      {url && <Media kind={isVideo ? 'video' : 'image'} url={url} gone={`${label}: no longer available`} />}
      {title && <div className="card-title">{title}</div>}
      {url && (
        <a className="card-link" href={url} target="_blank" rel="noopener noreferrer">
          Open on Instagram
        </a>
      )}
    </div>
  );
}

function Products({ products }: { products: NonNullable<AttachmentJson['products']> }) {
  return (
    <div className="products" data-kind="product">
      {products.map((p) => (
        <div className="card product" key={p.id}>
          <div className="card-label">Shared a product</div>
          {p.imageUrl && <Media kind="image" url={p.imageUrl} gone="Product image unavailable" />}
          <div className="card-title">{p.name ?? `Product ${p.id}`}</div>
          <div className="product-meta">
            {p.price && <span className="price">{p.price}</span>}
            {p.retailerId && <span className="sku">SKU {p.retailerId}</span>}
          </div>
        </div>
      ))}
    </div>
  );
}

interface TemplateButton {
  type?: string;
  title?: string;
  url?: string;
  payload?: string;
}
interface TemplateElement {
  title?: string;
  subtitle?: string;
  image_url?: string;
  buttons?: TemplateButton[];
}

function Buttons({ buttons }: { buttons: TemplateButton[] | undefined }) {
  if (!buttons?.length) return null;
  return (
    <div className="template-buttons">
      {buttons.map((b, i) =>
        b.url ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: buttons have no id and never move
          <a key={i} className="template-button" href={b.url} target="_blank" rel="noopener noreferrer">
            {b.title}
          </a>
        ) : (
          // biome-ignore lint/suspicious/noArrayIndexKey: buttons have no id and never move
          <span key={i} className="template-button" title={`payload ${b.payload ?? ''}`}>
            {b.title}
          </span>
        ),
      )}
    </div>
  );
}

/** A template igdm sent (generic cards or a button template). */
function Template({ payload }: { payload: Record<string, unknown> }) {
  if (payload['template_type'] === 'button')
    return (
      <div className="card template" data-kind="template">
        <div className="card-title">{str(payload['text'])}</div>
        <Buttons buttons={payload['buttons'] as TemplateButton[]} />
      </div>
    );
  const elements = (payload['elements'] as TemplateElement[] | undefined) ?? [];
  return (
    <div className="template-row" data-kind="template">
      {elements.map((e, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: elements have no id and never move
        <div className="card template" key={i}>
          {e.image_url && <Media kind="image" url={e.image_url} gone="Image unavailable" />}
          <div className="card-title">{e.title}</div>
          {e.subtitle && <div className="card-sub">{e.subtitle}</div>}
          <Buttons buttons={e.buttons} />
        </div>
      ))}
    </div>
  );
}

export function Attachment({ a }: { a: AttachmentJson }) {
  // A file this agent uploaded shows from their own copy: Meta's attachment id alone shows nothing.
  const uploaded = uploadPreview(str(a.payload?.['attachment_id']));
  const url = urlOf(a) ?? uploaded?.url;
  const type = a.type.toLowerCase();
  if (a.products?.length) return <Products products={a.products} />;
  switch (type) {
    case 'image':
    case 'video':
    case 'audio':
      return url ? (
        <div data-kind={type}>
          <Media kind={type} url={url} gone={`The ${type} is no longer available`} kept={a.kept} />
        </div>
      ) : (
        <div className="media-gone">An uploaded {type}</div>
      );
    case 'file':
      return (
        <a className="card file" data-kind="file" href={url} target="_blank" rel="noopener noreferrer">
          📎 {a.title ?? uploaded?.name ?? 'File'}
        </a>
      );
    case 'story_mention':
      return <Story url={url} label="Mentioned you in their story" kept={a.kept} />;
    case 'ig_reel':
    case 'reel':
      return <ShareCard a={a} label="Shared a reel" />;
    case 'ig_post':
      return <ShareCard a={a} label="Shared a post" />;
    case 'share':
    case 'media_share':
      return <ShareCard a={a} label={type === 'media_share' ? 'Shared your post' : 'Shared a post'} />;
    case 'like_heart':
      return (
        <div className="sticker" data-kind="sticker" role="img" aria-label="Heart sticker">
          ❤️
        </div>
      );
    case 'template':
      return <Template payload={a.payload ?? {}} />;
    case 'ephemeral':
      return (
        <div className="card muted" data-kind="ephemeral">
          A disappearing photo or video: Instagram does not share it.
        </div>
      );
    default:
      return (
        <div className="card muted" data-kind="unsupported">
          Unsupported attachment ({a.type}){url ? ' · ' : ''}
          {url && (
            <a href={url} target="_blank" rel="noopener noreferrer">
              open
            </a>
          )}
        </div>
      );
  }
}
