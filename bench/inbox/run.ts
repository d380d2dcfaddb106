// Inbox benchmark: how soon the web inbox shows the conversation list and a 500-message thread, in
// Chromium, against an igdm holding 10 000 conversations; and the size of the app's JavaScript. See
// README.md beside this file.
//
//   npm run bench:inbox
//   BENCH_INBOX_CONVERSATIONS=2000 BENCH_INBOX_RUNS=3 npm run bench:inbox
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { DEFAULT_INBOX_DIR } from '../../src/api/inbox.ts';
import { launchChromium } from '../../test/web/support.ts';
import { envNumber, fixed, freePort, machine, median, startChild, stopChild, textTable } from '../support.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const HOST = '127.0.0.1';
const API_KEY = 'bench-key-0123456789abcdef';
const APP_SECRET = 'bench-app-secret';
const ACCOUNT = '17841400000009999';

const options = {
  conversations: Math.round(envNumber('BENCH_INBOX_CONVERSATIONS', 10_000)),
  threadMessages: Math.round(envNumber('BENCH_INBOX_THREAD', 500)),
  runs: Math.round(envNumber('BENCH_INBOX_RUNS', 7)),
};
/** Targets of issue 15. */
const TARGET = { listMs: 300, threadMs: 300, jsGzipKB: 250 };
/** Before the first visit in a running browser: the cache emptied and the old tab gone, a pause. */
const SETTLE_MS = 1000;

const log = (message: string) => process.stderr.write(`[bench:inbox] ${message}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- the bundle

/** The built app's scripts and style sheets: bytes as served, and gzipped (the build writes .gz). */
function bundleSize() {
  const dir = path.join(DEFAULT_INBOX_DIR, 'assets');
  let js = 0;
  let jsGzip = 0;
  let css = 0;
  let cssGzip = 0;
  for (const name of readdirSync(dir)) {
    const size = statSync(path.join(dir, name)).size;
    if (name.endsWith('.js')) js += size;
    else if (name.endsWith('.js.gz')) jsGzip += size;
    else if (name.endsWith('.css')) css += size;
    else if (name.endsWith('.css.gz')) cssGzip += size;
  }
  return { jsKB: js / 1024, jsGzipKB: jsGzip / 1024, cssKB: css / 1024, cssGzipKB: cssGzip / 1024 };
}

// ---------------------------------------------------------------- seeding igdm

/** One signed webhook delivery of `messaging` items, as Meta sends a batch. */
async function deliver(base: string, messaging: object[]) {
  const body = Buffer.from(
    JSON.stringify({ object: 'instagram', entry: [{ id: ACCOUNT, time: Date.now(), messaging }] }),
  );
  const signature = `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;
  const res = await fetch(`${base}/webhooks/meta`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    body,
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
}

const text = (igsid: string, n: number, at: number) => ({
  sender: { id: igsid },
  recipient: { id: ACCOUNT },
  timestamp: at,
  message: { mid: `m_${igsid}_${n}`, text: `Message ${n} from ${igsid}: do you ship to Lisbon?` },
});

async function api<T>(base: string, route: string): Promise<T> {
  const res = await fetch(base + route, { headers: { authorization: `Bearer ${API_KEY}` } });
  if (!res.ok) throw new Error(`${route} answered ${res.status}`);
  return (await res.json()) as T;
}

/** Until igdm has applied every stored event (its readiness says the backlog). */
async function applied(base: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.json() as Promise<{ apply: { backlog?: number } }>,
    );
    if ((ready.apply.backlog ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`igdm still has ${ready.apply.backlog} events to apply`);
    await sleep(250);
  }
}

async function seed(base: string): Promise<string> {
  const start = Date.now() - 3_600_000;
  const BATCH = 200;
  for (let i = 0; i < options.conversations - 1; i += BATCH) {
    const items = [];
    for (let j = i; j < Math.min(i + BATCH, options.conversations - 1); j++)
      items.push(text(`9${String(j).padStart(15, '0')}`, 1, start + j));
    await deliver(base, items);
    if (i % 2000 === 0) log(`seeded ${i} conversations`);
  }
  // The long thread, written last: the newest conversation.
  const big = '8000000000000001';
  for (let n = 1; n <= options.threadMessages; n += BATCH) {
    const items = [];
    for (let k = n; k < Math.min(n + BATCH, options.threadMessages + 1); k++)
      items.push(text(big, k, Date.now() - 600_000 + k));
    await deliver(base, items);
  }
  await applied(base, 120_000);
  const page = await api<{ data: { id: string; igsid: string }[] }>(base, '/v1/conversations?limit=1');
  const first = page.data[0];
  if (first?.igsid !== big) throw new Error('the long thread is not the newest conversation');
  return first.id;
}

// ---------------------------------------------------------------- measuring in Chromium

// Marks, in the page's own clock (ms since navigation start), when the list first shows rows and
// when a thread shows its first page of messages.
const MARKS = `
  window.__marks = {};
  new MutationObserver(() => {
    const m = window.__marks;
    if (m.list === undefined && document.querySelector('.row')) m.list = performance.now();
    if (m.thread === undefined && document.querySelectorAll('.message').length >= 50) m.thread = performance.now();
  }).observe(document, { childList: true, subtree: true });
`;

type Marks = { list?: number; thread?: number; click?: number };

/** The marks once `key` is set (polled: the marks carry the page's own times, so the poll costs nothing). */
async function marks(page: Page, key: keyof Marks): Promise<Marks> {
  // page.evaluate, not waitForFunction: the inbox's Content-Security-Policy forbids the latter's eval.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const m = await page.evaluate<Marks>('window.__marks');
    if (m[key] !== undefined) return m;
    if (Date.now() > deadline) throw new Error(`no ${key} mark within 15 s`);
    await sleep(10);
  }
}

interface Sample {
  listMs: number;
  listRunningMs: number;
  listCachedMs: number;
  threadColdMs: number;
  threadSwitchMs: number;
}

async function measure(url: string, bigId: string): Promise<Sample[]> {
  const chromium = await launchChromium();
  const samples: Sample[] = [];
  try {
    for (let run = 0; run <= options.runs; run++) {
      const page = await chromium.page({ width: 1280, height: 800 });
      await page.addInitScript(`localStorage.setItem('igdm.apiKey', ${JSON.stringify(API_KEY)}); ${MARKS}`);
      // Cold: a new page with the key stored, as after a reload.
      await page.goto(url);
      const list = await marks(page, 'list');
      if (process.env['BENCH_INBOX_TRACE'])
        log(
          (
            await page.evaluate<{ name: string; startTime: number; responseEnd: number }[]>(
              "performance.getEntries().filter((e) => e.entryType !== 'resource' || e.name.includes('/v1/')).map((e) => ({ name: e.name + ' ' + e.entryType, startTime: e.startTime, responseEnd: e.responseEnd ?? e.startTime + e.duration }))",
            )
          )
            .map((e) => `${e.name.replace(url, '')}: ${e.startTime.toFixed(0)}–${e.responseEnd.toFixed(0)}`)
            .join('\n'),
        );
      // Switching to the long thread from the list, as an agent clicks it.
      await page.locator('.row').nth(1).click();
      await page.locator('.message').first().waitFor();
      await page.evaluate(`window.__marks.thread = undefined`);
      const clickAt = await page.evaluate<number>(`(() => {
        const t = performance.now();
        document.querySelector('.row[data-conversation-id="${bigId}"] button').click();
        return t;
      })()`);
      const switched = await marks(page, 'thread');
      // A page load straight into the long thread (/conversations/<id>), the scripts cached.
      await page.goto(`${url}/conversations/${bigId}`);
      const cold = await marks(page, 'thread');
      // The list again, its scripts now in the browser's cache (as for an agent who comes back).
      await page.goto(url);
      const cached = await marks(page, 'list');
      // A first visit in a browser that is already running: its HTTP and code caches emptied, the
      // tab closed (its renderer process and V8's in-memory cache go with it), the inbox opened in
      // a new tab. A new context (above) also starts the browser's own parts for it, and those costs
      // land in the page's clock.
      const context = page.context();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.clearBrowserCache');
      await cdp.detach();
      await page.close();
      await sleep(SETTLE_MS);
      const tab = await context.newPage();
      await tab.addInitScript(MARKS);
      // BENCH_INBOX_CHROME_TRACE=file: a Chrome trace (timeline and CPU profile) of the first run's.
      const tracing = process.env['BENCH_INBOX_CHROME_TRACE'] && run === 1;
      if (tracing)
        await chromium.browser.startTracing(tab, {
          path: process.env['BENCH_INBOX_CHROME_TRACE'],
          categories: ['devtools.timeline', 'v8', 'disabled-by-default-v8.cpu_profiler', 'loading'],
        });
      await tab.goto(url);
      const running = await marks(tab, 'list');
      if (process.env['BENCH_INBOX_LOAF'])
        log(
          await tab.evaluate<string>(`JSON.stringify({
            loaf: performance.getEntriesByType('long-animation-frame').map((f) => ({ start: Math.round(f.startTime), dur: Math.round(f.duration), render: Math.round(f.renderStart ? f.startTime + f.duration - f.renderStart : 0), scripts: f.scripts.map((s) => ({ src: (s.sourceURL || s.invoker).slice(-40), inv: s.invokerType, start: Math.round(s.startTime), dur: Math.round(s.duration), compile: Math.round(s.executionStart - s.startTime), layout: Math.round(s.forcedStyleAndLayoutDuration) })) })),
            res: performance.getEntriesByType('resource').map((r) => ({ n: r.name.slice(-40), s: Math.round(r.startTime), e: Math.round(r.responseEnd) })),
            nav: (({ responseStart, responseEnd, domInteractive }) => ({ responseStart, responseEnd, domInteractive }))(performance.getEntriesByType('navigation')[0]),
            list: window.__marks.list,
          }, null, 1)`),
        );
      if (tracing) await chromium.browser.stopTracing();
      await context.close();
      if (run === 0) continue; // the first run warms the caches of igdm and Chromium
      samples.push({
        listMs: list.list!,
        listRunningMs: running.list!,
        listCachedMs: cached.list!,
        threadColdMs: cold.thread!,
        threadSwitchMs: switched.thread! - clickAt,
      });
      log(
        `run ${run}: list ${fixed(list.list, 0)} ms (running browser ${fixed(running.list, 0)}, cached ${fixed(cached.list, 0)}), thread: page load ${fixed(cold.thread, 0)} ms, click ${fixed(switched.thread! - clickAt, 0)} ms`,
      );
    }
  } finally {
    await chromium.close();
  }
  return samples;
}

// ---------------------------------------------------------------- the run

async function main() {
  if (!existsSync(path.join(DEFAULT_INBOX_DIR, 'index.html'))) {
    log('building the inbox');
    execFileSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'inherit' });
  }
  const bundle = bundleSize();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'igdm-bench-inbox-'));
  const port = await freePort();
  const base = `http://${HOST}:${port}`;
  const igdm = startChild('igdm', ['--max-semi-space-size=4', 'bin/igdm.mjs', 'start'], {
    PORT: String(port),
    HOST,
    DATABASE_URL: `sqlite:${path.join(dir, 'igdm.sqlite')}`,
    IGDM_API_KEY: API_KEY,
    META_APP_SECRET: APP_SECRET,
    WEBHOOK_VERIFY_TOKEN: 'bench-verify',
    INSTAGRAM_USER_ID: ACCOUNT,
    INSTAGRAM_ACCESS_TOKEN: 'bench-token',
    // Profiles are asked of a closed port: nothing leaves the machine.
    INSTAGRAM_GRAPH_API_URL: 'http://127.0.0.1:9',
    LOG_LEVEL: 'error',
  });
  try {
    for (let i = 0; ; i++) {
      if (igdm.exited) throw new Error(`igdm ${igdm.exitDescription}: ${igdm.output}`);
      if ((await fetch(`${base}/healthz`).catch(() => null))?.ok) break;
      if (i > 200) throw new Error('igdm did not start');
      await sleep(100);
    }
    const seeding = Date.now();
    const bigId = await seed(base);
    log(`seeded ${options.conversations} conversations in ${((Date.now() - seeding) / 1000).toFixed(1)} s`);
    const samples = await measure(base, bigId);

    const stat = (pick: (s: Sample) => number) => ({
      median: median(samples.map(pick)),
      max: Math.max(...samples.map(pick)),
    });
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      options,
      bundle,
      listMs: stat((s) => s.listMs),
      listRunningMs: stat((s) => s.listRunningMs),
      listCachedMs: stat((s) => s.listCachedMs),
      threadColdMs: stat((s) => s.threadColdMs),
      threadSwitchMs: stat((s) => s.threadSwitchMs),
      samples,
    };
    const row = (name: string, s: { median?: number; max: number }, target: number) => [
      name,
      fixed(s.median, 0),
      fixed(s.max, 0),
      `≤ ${target}`,
    ];
    console.log(
      textTable(
        ['measure', 'median (ms)', 'max (ms)', 'target (ms)'],
        [
          row('list: first rows, first page load, new browser context', result.listMs, TARGET.listMs),
          row('list: first rows, first page load, running browser', result.listRunningMs, TARGET.listMs),
          row('list: first rows, page load, scripts cached', result.listCachedMs, TARGET.listMs),
          row(
            `thread (${options.threadMessages} msgs): click to first page`,
            result.threadSwitchMs,
            TARGET.threadMs,
          ),
          row(
            `thread (${options.threadMessages} msgs): page load to first page`,
            result.threadColdMs,
            TARGET.threadMs,
          ),
        ],
      ),
    );
    console.log(
      `\nJavaScript: ${bundle.jsKB.toFixed(1)} KB, ${bundle.jsGzipKB.toFixed(1)} KB gzipped (target ≤ ${TARGET.jsGzipKB}); ` +
        `CSS: ${bundle.cssKB.toFixed(1)} KB, ${bundle.cssGzipKB.toFixed(1)} KB gzipped`,
    );
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    const file = path.join(ROOT, 'bench', 'results', `inbox-${result.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${path.relative(ROOT, file)}`);
  } finally {
    await stopChild(igdm);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
