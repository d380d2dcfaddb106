// The seeded store, made once per seed version and size and kept in a cache folder; each run copies it.
// Everything in it is written by igdm's own code, as igdm writes it:
// 1. igdm starts on an empty store (the schema, the `default` channel) and `shop2` is connected
//    through POST /v1/channels;
// 2. the webhook bodies Meta would deliver go through igdm's ingest worker (src/ingest/, the thread
//    the HTTP route hands signature-checked bodies to) into the event log;
// 3. `igdm replay` applies them with the projector (src/projection/): contacts, conversations with
//    their last-message fields, messages, the full-text index (its triggers), the event log;
// 4. contacts' profiles are saved as the profile lookup saves them (store/contacts.ts saveProfile);
// 5. igdm starts again and the inbox's state is set through the API: statuses, assignees, tags,
//    read marks, notes, handovers.
// Not there: the engine's jobs and what they add (intents, message.sent events for echoes): replay
// rebuilds state only.

import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MessageChannel } from 'node:worker_threads';
import { IngestWriter } from '../../src/ingest/writer.ts';
import { generatedName, usernameOf } from '../../src/sandbox/customers.ts';
import { saveProfile } from '../../src/store/contacts.ts';
import { contactIdOf } from '../../src/store/ids.ts';
import { openStore } from '../../src/store/index.ts';
import { startChild } from '../support.ts';
import { generator, PRODUCTS } from './corpus.ts';
import { Igdm } from './igdm.ts';
import { CHANNELS, log, options, ROOT, SECRET_KEY, SEED_VERSION, sleep } from './options.ts';
import { conversationMessages, planConversations } from './plan.ts';

export interface Manifest {
  version: number;
  createdAt: string;
  seedSeconds: number;
  storeMB: number;
  counts: { conversations: number; messages: number; inbound: number; outbound: number; media: number };
  /** Per conversation: id, channel, customer, message count. */
  conversations: { id: string; channelId: string; igsid: string; messages: number }[];
  /** Order numbers, each written in one conversation only: rare search terms. */
  orders: string[];
}

/**
 * Both channels' Graph API: nothing listens here. The seed makes no call; in a run, a profile lookup
 * (a contact whose profile is older than a day writes) is refused at once and asked again tomorrow.
 */
export const NO_GRAPH = 'http://127.0.0.1:9';
const AGENTS = ['Ana', 'Marta', 'Lena', 'Noah', 'Giulia', 'Tomás'];
const TAGS = ['vip', 'wholesale', 'refund', 'complaint', 'influencer', 'gift'];

export const seedDir = () =>
  path.join(options.cacheDir, `seed-v${SEED_VERSION}-${options.conversations}c-${options.messages}m`);

/** The cached seed (made first if missing): its folder and manifest. */
export async function seededStore(): Promise<{ dir: string; manifest: Manifest }> {
  const dir = seedDir();
  const manifestFile = path.join(dir, 'manifest.json');
  if (existsSync(manifestFile)) {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    log(`seed: cached in ${dir} (${manifest.createdAt}, ${manifest.storeMB} MB)`);
    return { dir, manifest };
  }
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  const manifest = await build(building);
  writeFileSync(path.join(building, 'manifest.json'), JSON.stringify(manifest));
  renameSync(building, dir);
  log(`seed: made in ${manifest.seedSeconds} s, kept in ${dir}`);
  return { dir, manifest };
}

/** Copies the seeded store into `to` (a fresh folder) for one run. */
export function copySeed(dir: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const file of ['igdm.sqlite', 'igdm.sqlite-wal'])
    if (existsSync(path.join(dir, file))) cpSync(path.join(dir, file), path.join(to, file));
}

async function build(dir: string): Promise<Manifest> {
  const started = performance.now();
  const sqlitePath = path.join(dir, 'igdm.sqlite');
  const plan = planConversations(options.conversations, options.messages);
  const now = Date.now();
  let stepStarted = performance.now();
  const step = (what: string) => {
    log(`${what} (${((performance.now() - stepStarted) / 1000).toFixed(1)} s, the step before)`);
    stepStarted = performance.now();
  };

  step('seed 1/5: the schema and the channels');
  let igdm = await Igdm.start(dir, NO_GRAPH, ROOT);
  const [, shop2] = CHANNELS;
  await igdm.api.json('POST', '/v1/channels', { ...shop2, name: 'Second shop', graphApiUrl: NO_GRAPH }, 201);
  await igdm.stop();

  step(`seed 2/5: ${options.messages} webhook events through the ingest worker`);
  const counts = { conversations: plan.length, messages: 0, inbound: 0, outbound: 0, media: 0 };
  const stored = new MessageChannel();
  const routes = CHANNELS.map((c) => ({ id: c.id, accountId: c.accountId, pageId: null }));
  const writer = new IngestWriter(sqlitePath, routes, stored.port1);
  const inFlight = new Set<Promise<void>>();
  for (const c of plan) {
    for (const m of conversationMessages(c, now)) {
      counts.messages++;
      counts[m.inbound ? 'inbound' : 'outbound']++;
      if (m.media) counts.media++;
      const write = writer
        .write({ body: m.body, channelId: null, verifiedBy: [m.channelId], receivedAt: Date.now() })
        .then((r) => {
          if (r.status !== 'stored' || r.inserted !== 1) throw new Error(`ingest: ${JSON.stringify(r)}`);
          inFlight.delete(write);
        });
      inFlight.add(write);
      if (inFlight.size >= 512) await Promise.race(inFlight);
    }
    if (c.index % 2000 === 1999) log(`  ${counts.messages} events stored`);
  }
  await Promise.all(inFlight);
  await writer.close();
  stored.port2.close();

  step('seed 3/5: igdm replay (the projector applies every stored event)');
  await replay(sqlitePath);

  step("seed 4/5: contacts' profiles");
  const store = await openStore(`sqlite:${sqlitePath}`);
  await store.db.transaction().execute(async (trx) => {
    for (const c of plan) {
      const name = generatedName(c.igsid);
      await saveProfile(
        trx,
        contactIdOf(c.channel.id, c.igsid),
        {
          username: usernameOf(name, String(c.index % 100).padStart(2, '0')),
          name,
          profilePic: `https://scontent.cdninstagram.com/v/t51.2885-19/${c.igsid}_n.jpg?stp=dst-jpg_s150x150&_nc_ht=scontent.cdninstagram.com&oh=00_${c.id.slice(4)}`,
        },
        now,
      );
    }
  });
  await store.close();

  step('seed 5/5: the inbox, through the API (statuses, assignees, tags, read marks, notes, handovers)');
  igdm = await Igdm.start(dir, NO_GRAPH, ROOT);
  await inboxState(igdm, plan);
  await igdm.stop();

  step('seed: done');
  // One file to copy: the WAL folded into the database.
  const db = new DatabaseSync(sqlitePath);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  rmSync(`${sqlitePath}-shm`, { force: true });
  const g = generator(99);
  return {
    version: SEED_VERSION,
    createdAt: new Date().toISOString(),
    seedSeconds: Math.round((performance.now() - started) / 1000),
    storeMB: Math.round(statSync(sqlitePath).size / 1e6),
    counts,
    conversations: plan.map((c) => ({
      id: c.id,
      channelId: c.channel.id,
      igsid: c.igsid,
      messages: c.messages,
    })),
    orders: Array.from({ length: 200 }, () => plan[g.int(plan.length)]!.slots.order),
  };
}

async function replay(sqlitePath: string): Promise<void> {
  const child = startChild('replay', ['bin/igdm.mjs', 'replay'], {
    DATABASE_URL: `sqlite:${sqlitePath}`,
    IGDM_SECRET_KEY: SECRET_KEY,
    LOG_LEVEL: 'warn',
  });
  while (!child.exited) await sleep(200);
  if (child.exitDescription !== 'exited with code 0')
    throw new Error(`igdm replay ${child.exitDescription}:\n${child.output.slice(-2000)}`);
  log(`  ${child.output.trim()}`);
}

/** What agents did in the inbox: each conversation's share of changes, 4 callers at once. */
async function inboxState(igdm: Igdm, plan: ReturnType<typeof planConversations>): Promise<void> {
  const calls: [string, string, unknown][] = [];
  for (const c of plan) {
    const g = generator(31 * (c.index + 1));
    const at = `/v1/conversations/${c.id}`;
    const change: Record<string, unknown> = {};
    const r = g.next();
    if (r < 0.25) change.status = 'resolved';
    else if (r < 0.35) change.status = 'pending';
    if (g.chance(0.3)) change.assignee = g.pick(AGENTS);
    if (g.chance(0.15)) change.tags = g.chance(0.5) ? [g.pick(TAGS)] : [g.pick(TAGS), g.pick(TAGS)];
    if (Object.keys(change).length) calls.push(['PATCH', at, change]);
    if (g.chance(0.6)) calls.push(['POST', `${at}/read`, undefined]);
    if (g.chance(0.05))
      calls.push([
        'POST',
        `${at}/notes`,
        { text: `Customer asked about the ${g.pick(PRODUCTS)}; follow up` },
      ]);
    if (g.chance(0.08)) calls.push(['POST', `${at}/handover`, { to: 'human' }]);
  }
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const [method, pathname, body] = calls[next++]!;
      await igdm.api.json(method, pathname, body, pathname.endsWith('/notes') ? 201 : 200);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  log(`  ${calls.length} API calls`);
}
