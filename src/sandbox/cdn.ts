import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { cdnUrl } from './ids.ts';

// Meta's CDN, emulated: the media a simulated customer sends (with no link of its own) is served by
// the sandbox under <prefix>/cdn/, without a key as Meta's links are, until it expires, after which
// it answers 403 as Meta's signed links do. `POST <prefix>/cdn/expire` expires every link so far
// (a story mention's lasts a day at Meta): what igdm kept of it (media/keeper.ts) is then all there is.

/** A 1×1 PNG: a picture any browser shows. */
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
    '1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082',
  'hex',
);

const CONTENT: Record<string, { type: string; body: Buffer }> = {
  image: { type: 'image/png', body: PNG },
  story_mention: { type: 'image/png', body: PNG },
  video: { type: 'video/mp4', body: Buffer.from('sandbox video') },
  audio: { type: 'audio/mp4', body: Buffer.from('sandbox audio') },
  file: { type: 'application/pdf', body: Buffer.from('%PDF-1.4 sandbox file') },
};

export class SandboxCdn {
  readonly #base: (() => string) | null;
  /** Asset → its type; the expired ones are gone from it. */
  readonly #assets = new Map<string, string>();

  /** `base`: where the sandbox's /cdn routes are reached; without it, links never resolve. */
  constructor(base: (() => string) | null) {
    this.#base = base;
  }

  /** A link to a new piece of media of this attachment type. */
  link(type = 'image'): string {
    if (!this.#base) return cdnUrl();
    const asset = randomBytes(12).toString('hex');
    this.#assets.set(asset, type);
    return `${this.#base()}/${asset}?oh=${randomBytes(8).toString('hex')}`;
  }

  serve(asset: string): { type: string; body: Buffer } | null {
    const type = this.#assets.get(asset);
    return type === undefined ? null : (CONTENT[type] ?? CONTENT['image']!);
  }

  /** Every link so far stops working; how many. */
  expire(): number {
    const n = this.#assets.size;
    this.#assets.clear();
    return n;
  }
}

/** GET <prefix>/cdn/:asset (no key, as Meta's links) */
export async function cdnRoutes(app: FastifyInstance, opts: { cdn: SandboxCdn }) {
  app.get<{ Params: { asset: string } }>('/cdn/:asset', async (req, reply) => {
    const found = opts.cdn.serve(req.params.asset);
    if (!found) return reply.code(403).type('text/plain').send('URL signature expired');
    return reply.type(found.type).header('cache-control', 'max-age=3600').send(found.body);
  });
}

/** POST <prefix>/cdn/expire (a control route: behind the key) */
export async function cdnControlRoutes(app: FastifyInstance, opts: { cdn: SandboxCdn }) {
  app.post('/cdn/expire', async () => ({ expired: opts.cdn.expire() }));
}
