// Read latency through the API: the conversation list (first page, filters, later pages by cursor),
// a thread page (the newest, and an older one by cursor) and search (?q=), each over many
// conversations and terms. Sequential first (one client, the operations interleaved so that each sees
// the same machine), then a few clients at once.
import { generator, SEARCH } from './corpus.ts';
import { Client } from './igdm.ts';
import { log, options } from './options.ts';
import type { Manifest } from './seed.ts';
import { type Latency, latency } from './stats.ts';

export type Category = 'list' | 'thread' | 'search';

interface Operation {
  name: string;
  category: Category;
  /** The next URL to ask for (a different conversation, term or cursor each time, where there are many). */
  next(): string;
}

export interface QueryResults {
  sequential: { name: string; category: Category; latency: Latency }[];
  /** Per category, all of its operations' samples together. */
  categories: Record<Category, Latency>;
  concurrent: {
    clients: number;
    seconds: number;
    requestsPerS: number;
    categories: Record<Category, Latency>;
  } | null;
  /** How many conversations the searches found (median per operation), to show they searched something. */
  found: Record<string, number>;
}

const cycle = <T>(list: T[]) => {
  let i = 0;
  return () => list[i++ % list.length]!;
};
const enc = encodeURIComponent;

interface Page {
  data: { id: string }[];
  nextCursor: string | null;
}

/** The operations, with the cursors and pools they draw from (asked for now, not measured). */
async function operations(api: Client, manifest: Manifest): Promise<Operation[]> {
  const g = generator(7);
  const conversations = manifest.conversations;
  const some = (n: number, from = conversations) =>
    Array.from({ length: n }, () => from[g.int(from.length)]!);

  // Later pages of the list: the cursors of pages 2 to 21, unfiltered and for open conversations.
  const cursors: string[] = [];
  for (const filter of ['', 'status=open&']) {
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const r: Page = await api.json('GET', `/v1/conversations?${filter}${cursor ? `cursor=${cursor}` : ''}`);
      if (!r.nextCursor) break;
      cursor = r.nextCursor;
      cursors.push(`${filter}cursor=${cursor}`);
    }
  }
  // Older thread pages: the second page of conversations with more than one page.
  const long = conversations.filter((c) => c.messages > 50);
  const older: string[] = [];
  for (const c of some(200, long)) {
    const r: Page = await api.json('GET', `/v1/conversations/${c.id}/messages`);
    if (r.nextCursor) older.push(`/v1/conversations/${c.id}/messages?cursor=${r.nextCursor}`);
  }
  const filters = [
    ...['open', 'pending', 'resolved'].map((s) => `status=${s}`),
    'unread=true',
    'unread=false',
    'channelId=default',
    'channelId=shop2',
    ...['Ana', 'Marta', 'Lena', 'Noah'].map((a) => `assignee=${a}`),
    'assignee=',
    ...['vip', 'refund', 'gift'].map((t) => `tag=${t}`),
    'threadOwner=human',
  ];
  const thread = cycle(some(2000).map((c) => `/v1/conversations/${c.id}/messages`));
  const q = (terms: string[]) => cycle(terms.map((t) => `/v1/conversations?q=${enc(t)}`));
  return [
    { name: 'list, first page', category: 'list', next: () => '/v1/conversations' },
    { name: 'list, a filter', category: 'list', next: cycle(filters.map((f) => `/v1/conversations?${f}`)) },
    { name: 'list, pages 2–21', category: 'list', next: cycle(cursors.map((c) => `/v1/conversations?${c}`)) },
    { name: 'thread, newest page', category: 'thread', next: thread },
    { name: 'thread, older page', category: 'thread', next: cycle(older) },
    { name: 'search, common word', category: 'search', next: q(SEARCH.common) },
    { name: 'search, less common word', category: 'search', next: q(SEARCH.medium) },
    { name: 'search, two words', category: 'search', next: q(SEARCH.pairs) },
    { name: 'search, order number', category: 'search', next: q(manifest.orders) },
  ];
}

async function timed(api: Client, url: string): Promise<{ ms: number; body: string }> {
  const r = await api.get(url);
  if (r.status !== 200) throw new Error(`GET ${url} answered ${r.status}: ${r.body.slice(0, 300)}`);
  return r;
}

const byCategory = (samples: { category: Category; ms: number[] }[]): Record<Category, Latency> => {
  const of = (c: Category) => latency(samples.filter((s) => s.category === c).flatMap((s) => s.ms));
  return { list: of('list'), thread: of('thread'), search: of('search') };
};

export async function measureQueries(port: number, manifest: Manifest): Promise<QueryResults> {
  const api = new Client(port, 1);
  try {
    const ops = await operations(api, manifest);
    log(
      `queries: ${ops.length} operations, ${options.warmup} warm-up and ${options.samples} measured requests each`,
    );
    for (let i = 0; i < options.warmup; i++) for (const op of ops) await timed(api, op.next());
    const samples = ops.map((op) => ({
      name: op.name,
      category: op.category,
      ms: [] as number[],
      found: [] as number[],
    }));
    for (let i = 0; i < options.samples; i++) {
      for (const [k, op] of ops.entries()) {
        const r = await timed(api, op.next());
        samples[k]!.ms.push(r.ms);
        // Counted after the timing: the client's parsing is not the server's time.
        if (op.category === 'search') samples[k]!.found.push((JSON.parse(r.body) as Page).data.length);
      }
    }
    const found: Record<string, number> = {};
    for (const s of samples.filter((s) => s.found.length))
      found[s.name] = [...s.found].sort((a, b) => a - b)[Math.floor(s.found.length / 2)]!;
    return {
      sequential: samples.map((s) => ({ name: s.name, category: s.category, latency: latency(s.ms) })),
      categories: byCategory(samples),
      concurrent: options.clients > 1 && options.concurrentS > 0 ? await concurrent(port, ops) : null,
      found,
    };
  } finally {
    api.close();
  }
}

/** `options.clients` clients at once, each asking for the operations in turn, for `options.concurrentS`. */
async function concurrent(port: number, ops: Operation[]) {
  const samples = ops.map((op) => ({ category: op.category, ms: [] as number[] }));
  const end = performance.now() + options.concurrentS * 1000;
  let requests = 0;
  const client = async (offset: number) => {
    const api = new Client(port, 1);
    try {
      for (let i = offset; performance.now() < end; i++) {
        const k = i % ops.length;
        samples[k]!.ms.push((await timed(api, ops[k]!.next())).ms);
        requests++;
      }
    } finally {
      api.close();
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, c) => client(c * 2)));
  return {
    clients: options.clients,
    seconds: options.concurrentS,
    requestsPerS: Math.round(requests / options.concurrentS),
    categories: byCategory(samples),
  };
}
