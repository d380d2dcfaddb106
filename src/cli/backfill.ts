import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';

// `igdm backfill --since <time> [--channel ID] [--url URL]`: asks the running igdm to catch up on
// what Meta's webhooks did not bring since then (POST /v1/channels/:id/import, with the admin key
// IGDM_API_KEY), one channel or each, and prints each run's report. It goes through the running
// service, which owns the store and the Conversations API's rate (2 calls/s per account).

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO time, or a duration back from now: 90m, 6h, 2d. */
export function parseSince(value: string, now = Date.now()): number | null {
  const rel = /^(\d+)([mhd])$/.exec(value.trim());
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]!]!;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

interface Report {
  channelId: string;
  since: string;
  conversationsChecked: number;
  messagesRecovered: number;
  possiblyMissing: { conversationId: string; igsid: string | null; oldestShownAt: string }[];
  subscription: { state: string; detail: string | null };
  error: { reason: string; message: string } | null;
}

export async function backfill(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { since: { type: 'string' }, channel: { type: 'string' }, url: { type: 'string' } },
  });
  const since = values.since === undefined ? null : parseSince(values.since);
  if (since === null) {
    process.stderr.write(
      'igdm: give --since as an ISO time (2026-01-15T12:00:00Z) or a duration (90m, 6h, 2d)\n',
    );
    return 2;
  }
  if (!config.apiKey) {
    process.stderr.write('igdm: set IGDM_API_KEY (the admin key of the running igdm)\n');
    return 2;
  }
  const base = (values.url ?? `http://127.0.0.1:${config.port}`).replace(/\/+$/, '');
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${config.apiKey}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  let channels: string[];
  try {
    channels = values.channel
      ? [values.channel]
      : ((await call('GET', '/v1/channels')).body?.data ?? []).map((c: { id: string }) => c.id);
  } catch (err) {
    process.stderr.write(
      `igdm: igdm is not answering at ${base} (${(err as Error).message}); start it (it catches up at start) or give --url\n`,
    );
    return 1;
  }
  let failed = false;
  for (const id of channels) {
    const r = await call('POST', `/v1/channels/${encodeURIComponent(id)}/import`, {
      since: new Date(since).toISOString(),
    });
    if (r.status !== 200) {
      process.stderr.write(`igdm: channel ${id}: ${r.body?.error?.message ?? `HTTP ${r.status}`}\n`);
      failed = true;
      continue;
    }
    process.stdout.write(describe(r.body as Report));
    if ((r.body as Report).error) failed = true;
  }
  return failed ? 1 : 0;
}

function describe(r: Report): string {
  const lines = [
    `channel ${r.channelId}: since ${r.since}, ${r.conversationsChecked} conversation(s) checked, ${r.messagesRecovered} message(s) recovered`,
  ];
  for (const m of r.possiblyMissing)
    lines.push(
      `  messages may be missing in conversation ${m.conversationId}${m.igsid ? ` (customer ${m.igsid})` : ''}: Meta shows none older than ${m.oldestShownAt}`,
    );
  lines.push(
    `  webhook subscription: ${r.subscription.state}${r.subscription.detail ? ` (${r.subscription.detail})` : ''}`,
  );
  if (r.error) lines.push(`  stopped early: ${r.error.reason}: ${r.error.message}`);
  return `${lines.join('\n')}\n`;
}
