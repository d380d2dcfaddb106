// A deployment's processes (`igdm start --role …` children) as its clients reach them: the API with
// the test key, Meta's signed webhooks, the event stream, and /metrics for who leads.

import { expect } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import { sleep } from '../send/support.ts';
import type { IgdmProcess } from '../support/http.ts';
import { API_KEY, APP_SECRET } from '../support/service.ts';
import { sseFrames } from '../support/sse.ts';

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Json = any;

/** An API request with the test key (or `key`): the status and the JSON body (null when none). */
export async function call(
  p: IgdmProcess,
  path: string,
  init: RequestInit & { key?: string } = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${p.url}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${init.key ?? API_KEY}`,
      ...(init.body !== undefined && { 'content-type': 'application/json' }),
    },
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Posts a signed webhook body, as Meta does; Meta delivers again until it is answered 200. */
export async function deliver(p: IgdmProcess, body: object): Promise<void> {
  const payload = JSON.stringify(body);
  for (let tries = 0; ; tries++) {
    const res = await fetch(`${p.url}/webhooks/meta`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': sign(payload, APP_SECRET, 'sha256'),
      },
      body: payload,
    }).catch(() => null);
    if (res?.status === 200) return;
    if (tries > 20) throw new Error(`webhook refused: ${res?.status}`);
    await sleep(200);
  }
}

/** Follows a process's event stream (GET /v1/events) for events of one type: their ids, as they come. */
export async function follow(p: IgdmProcess, type: string) {
  const ac = new AbortController();
  const res = await fetch(`${p.url}/v1/events?types=${type}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  const ids: string[] = [];
  void (async () => {
    for await (const { id } of sseFrames(res.body!)) if (id) ids.push(id);
  })().catch(() => {});
  return { ids, close: () => ac.abort() };
}

/** Whether the process says it is the leader (igdm_leader in /metrics). */
export async function leads(p: IgdmProcess): Promise<boolean> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  return /^igdm_leader 1$/m.test(text);
}
