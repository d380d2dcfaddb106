import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, type SandboxService, startSandboxService } from '../../send/support.ts';

// igdm in sandbox mode with an automation file: the engine's tests talk to it only through the
// sandbox's simulated customers, the HTTP API and the sandbox's record of Send API calls.

/** The README's example automation file, as written there. */
export const README_CONFIG = `rules:
  - name: pricing
    when: { keyword: [price, pricing, cost] }
    reply: { type: text, text: "Hi {{username}}! Prices start at $10.", quickReplies: [{ title: "Shop now", payload: SHOP }] }
  - name: shop
    when: { payload: SHOP }          # a quick reply or postback payload
    reply: { type: text, text: "Here is our shop: https://shop.example" }
  - name: mention-thanks
    when: { event: story_mention }
    reply: { type: text, text: "Thanks for the mention, @{{username}}!" }
  - name: agent
    when: { keyword: [human, agent] }
    handover: human
  - name: echo
    when: { regex: "^seq \\\\d+$" }
    reply: { type: text, text: "ack {{text}}" }
ai:
  provider: openai            # openai | anthropic | none (default none)
  model: gpt-4o-mini
  system: "You are a friendly Instagram DM assistant. Max 2 short sentences."
`;

/** Writes the automation file and starts the service with it. */
export async function startWithConfig(
  config: string,
  opts: { env?: Record<string, string>; clock?: Clock; file?: string } = {},
): Promise<SandboxService> {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-automation-'));
  const path = join(dir, opts.file ?? 'automation.yaml');
  writeFileSync(path, config);
  return startSandboxService({
    env: { IGDM_CONFIG: path, ...opts.env },
    ...(opts.clock && { clock: opts.clock }),
  });
}
