// Profiles igdm under a closed-loop load: CPU profiles of every thread land in PROFILE_DIR (PROFILE_OFF=1
// for none); prints the rate, latency, idle and peak RSS and the bytes written to disk per request.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebhookFeed } from './payloads.ts';
import { runRawLoad } from './raw-load.ts';

const dir = mkdtempSync(join(tmpdir(), 'igdm-prof-'));
const port = 3400 + Math.floor(Math.random() * 500);
const profileDir = process.env.PROFILE_DIR ?? join(dir, 'profiles');
const proc = spawn(
  process.execPath,
  [
    '--max-semi-space-size=4', // as npm start
    ...(process.env.PROFILE_NODE_FLAGS ?? '').split(' ').filter(Boolean),
    ...(process.env.PROFILE_OFF ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]),
    'bin/igdm.mjs',
    'start',
  ],
  {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'igdm.sqlite')}`,
      META_APP_SECRET: 'bench-secret',
      WEBHOOK_VERIFY_TOKEN: 'bench',
      INSTAGRAM_USER_ID: '17841400000000001',
      INSTAGRAM_GRAPH_API_URL: 'http://127.0.0.1:9', // profile lookups stay on this machine
      IGDM_API_KEY: 'bench-key-0123456789abcdef',
      LOG_LEVEL: 'warn',
    },
    stdio: 'inherit',
  },
);
const feed = new WebhookFeed('bench-secret');
feed.ensure(150_000);
for (let i = 0; i < 100; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
  } catch {}
  await new Promise((r) => setTimeout(r, 100));
}
const rss = () => /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1];
console.log(`idle RSS: ${(Number(rss()) / 1024).toFixed(0)} MB`);
const r = await runRawLoad({
  host: '127.0.0.1',
  port,
  path: '/webhooks/meta',
  durationS: Number(process.env.PROFILE_SECONDS ?? 8),
  connections: 50,
  next: () => feed.take(),
});
console.log(
  JSON.stringify({ rate: r.achievedRate, latency: r.latencyMs, errors: r.errors, non2xx: r.non2xx }),
);
const io = (await import('node:fs')).readFileSync(`/proc/${proc.pid}/io`, 'utf8');
const hwm = /VmHWM:\s+(\d+)/.exec(
  (await import('node:fs')).readFileSync(`/proc/${proc.pid}/status`, 'utf8'),
)?.[1];
console.log(`peak RSS: ${(Number(hwm) / 1024).toFixed(0)} MB`);
const written = Number(/write_bytes: (\d+)/.exec(io)?.[1]);
console.log(
  `disk writes: ${(written / 1e6).toFixed(0)} MB, ${(written / (r.achievedRate * Number(process.env.PROFILE_SECONDS ?? 8))).toFixed(0)} B per request`,
);
proc.kill('SIGTERM');
await new Promise((r) => proc.once('exit', r));
console.log(`profiles in ${profileDir}`);
