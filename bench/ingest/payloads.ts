// Signed Instagram message webhooks, each with its own message `mid`, as Meta sends them: compact
// JSON, non-ASCII escaped as \uXXXX and `/` as `\/`, about 1 KB a body.
import { randomBytes } from 'node:crypto';
import { sign } from './signature.ts';

export const ACCOUNT_ID = '17841400000000001';
const SENDER_POOL = 1000;

const PHRASES = [
  'Hi! Is the linen shirt still available in size M?',
  '¿Hacen envíos a Valencia? Necesito el pedido antes del viernes.',
  'Olá, gostaria de saber o preço da entrega para São Paulo.',
  'Bonjour, est-ce que la commande n° 4821 est déjà partie ?',
  'Merci beaucoup, c’est parfait 🙏',
  'Can I change the delivery address to https://maps.example.com/pin/48213 ?',
  'Hallo, die Größe passt leider nicht – kann ich umtauschen?',
  'こんにちは、在庫はありますか？',
  'Thank you so much!! 😍😍 you are the best',
  'My order number is #A-20931, it says “shipped” but nothing arrived yet.',
  'Ciao! Avete anche il colore verde oliva?',
  'Привет! Сколько стоит доставка?',
  'ok 👍',
  'Do you have a store in Zürich or only online?',
  'Please call me back after 5pm, thanks — Zoë',
  'İyi günler, kargo ne zaman gelir?',
];

/** Meta's JSON: JSON.stringify, then every non-ASCII UTF-16 unit as \uXXXX and `/` as `\/`. */
export function metaJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff/]/g, (ch) =>
    ch === '/' ? '\\/' : '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

function makeTexts(count: number, targetBytes: number): string[] {
  const texts: string[] = [];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let t = 0; t < count; t++) {
    let text = '';
    while (metaJson(text).length < targetBytes)
      text += (text === '' ? '' : ' ') + PHRASES[rand(PHRASES.length)];
    // Trim back to the target on a character boundary that does not split a surrogate pair.
    while (metaJson(text).length > targetBytes + 40) {
      const cut = text.length - 1;
      text = /[\ud800-\udbff]/.test(text[cut - 1] ?? '') ? text.slice(0, cut - 1) : text.slice(0, cut);
    }
    texts.push(text);
  }
  return texts;
}

export interface SignedBody {
  body: Buffer;
  signature: string;
}

const CHUNK_BYTES = 64 * 1024 * 1024;
const SIGNATURE_BYTES = 'sha256='.length + 64;

/**
 * A feed of distinct signed bodies. Bodies are generated ahead with `ensure()` so the load
 * generator only picks them up; `take()` still generates one on demand if the stock runs out,
 * so a mid is never repeated. Bodies and signatures live back to back in 64 MB chunks, so a
 * million of them are a few dozen objects for the garbage collector, not two million.
 */
export class WebhookFeed {
  readonly secret: string;
  readonly runId = randomBytes(6).toString('hex');
  readonly #texts = makeTexts(256, 800);
  readonly #epoch = Date.now();
  readonly #senders: string[] = [];
  readonly #chunks: Buffer[] = [];
  #used = CHUNK_BYTES; // of the last chunk; full, so the first body opens one
  /** Per body: its chunk, its offset there, its length (the signature follows the body). */
  readonly #chunkOf: number[] = [];
  readonly #offset: number[] = [];
  readonly #length: number[] = [];
  #next = 0;
  generatedOnDemand = 0;

  constructor(secret: string) {
    this.secret = secret;
    for (let i = 0; i < SENDER_POOL; i++) this.#senders.push(String(6_100_000_000_000_000 + i * 7_919_113));
  }

  /** How many bodies were handed out since the last `rewind()`. */
  get taken(): number {
    return this.#next;
  }

  /** How many bodies were generated. */
  get stock(): number {
    return this.#length.length;
  }

  /** Make sure at least `count` not yet taken bodies are ready. */
  ensure(count: number): void {
    while (this.#length.length < this.#next + count) this.#generate();
  }

  take(): SignedBody {
    if (this.#next >= this.#length.length) {
      this.#generate();
      this.generatedOnDemand++;
    }
    const i = this.#next++;
    const chunk = this.#chunks[this.#chunkOf[i]!]!;
    const start = this.#offset[i]!;
    const end = start + this.#length[i]!;
    return {
      body: chunk.subarray(start, end),
      signature: chunk.toString('latin1', end, end + SIGNATURE_BYTES),
    };
  }

  /** Start again from the first body (for a new server with an empty store). */
  rewind(): void {
    this.#next = 0;
  }

  #generate(): void {
    const n = this.#length.length;
    // Strictly increasing Meta timestamps, so per-conversation order is well defined.
    const timestamp = this.#epoch + n;
    const mid = Buffer.from(`ig_message_item:1:IGMessage:${ACCOUNT_ID}:bench-${this.runId}-${n}`).toString(
      'base64url',
    );
    const json = metaJson({
      object: 'instagram',
      entry: [
        {
          time: timestamp + 150,
          id: ACCOUNT_ID,
          messaging: [
            {
              sender: { id: this.#senders[n % SENDER_POOL] },
              recipient: { id: ACCOUNT_ID },
              timestamp,
              message: { mid, text: this.#texts[n % this.#texts.length] },
            },
          ],
        },
      ],
    });
    const length = Buffer.byteLength(json); // ASCII: metaJson escaped everything else
    if (this.#used + length + SIGNATURE_BYTES > CHUNK_BYTES) {
      this.#chunks.push(Buffer.allocUnsafeSlow(CHUNK_BYTES));
      this.#used = 0;
    }
    const chunk = this.#chunks[this.#chunks.length - 1]!;
    const start = this.#used;
    chunk.write(json, start, 'utf8');
    chunk.write(sign(this.secret, chunk.subarray(start, start + length)), start + length, 'latin1');
    this.#chunkOf.push(this.#chunks.length - 1);
    this.#offset.push(start);
    this.#length.push(length);
    this.#used = start + length + SIGNATURE_BYTES;
  }
}
