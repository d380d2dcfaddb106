import type { KyselyPlugin, QueryId, RootOperationNode, UnknownRow } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAi } from '../../src/engine/ai/index.ts';
import { loadAutomationConfig } from '../../src/engine/automation/config.ts';
import { Engine, type EngineJob } from '../../src/engine/engine.ts';
import { conversationsApiLimiter } from '../../src/graph/rate-limit.ts';
import { createLogger } from '../../src/log.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import type { Job } from '../../src/queue/queue.ts';
import type { Channel } from '../../src/store/channels.ts';
import type { SandboxService } from '../send/support.ts';
import { conversation, conversationId, jobsOf, startWithConfig } from './flow/support.ts';

// A rule's tags and a PATCH of the tags at the same moment: neither is lost. The engine reads the
// conversation's tags, the PATCH lands, then the engine writes: the engine's write must include it.

const CONFIG = `rules:
  - name: vip
    when: { keyword: vip }
    tag: [vip]
`;

let svc: SandboxService;
let path: string;

beforeAll(async () => {
  svc = await startWithConfig(CONFIG);
  path = svc.config.configPath!;
});
afterAll(async () => {
  await svc?.stop();
});

/** Runs `meanwhile` between the first read of a conversation's tags and the moment its rows come back. */
function pauseAfterTagsRead(meanwhile: () => Promise<void>): KyselyPlugin & { paused: boolean } {
  const tagReads = new WeakSet<QueryId>();
  return {
    paused: false,
    transformQuery({ node, queryId }: { node: RootOperationNode; queryId: QueryId }) {
      const json = JSON.stringify(node);
      if (node.kind === 'SelectQueryNode' && json.includes('"conversations"') && json.includes('"tags"'))
        tagReads.add(queryId);
      return node;
    },
    async transformResult({ result, queryId }) {
      if (tagReads.has(queryId) && !this.paused) {
        this.paused = true;
        await meanwhile();
      }
      return result as typeof result & { rows: UnknownRow[] };
    },
  };
}

const patchTags = async (igsid: string, tags: string[]) => {
  const r = await svc.json(`/v1/conversations/${conversationId(igsid)}`, { method: 'PATCH', body: { tags } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
};

it("a rule's tags and a PATCH made while the rule runs both survive", async () => {
  const { igsid } = await svc.customer({ text: 'I am a vip' });
  expect((await conversation(svc, igsid)).tags).toEqual(['vip']);
  const [job] = await jobsOf(svc, igsid);
  await patchTags(igsid, ['before']);

  // The same event again, on an engine whose store pauses after it read the tags: an agent tags
  // the conversation meanwhile.
  const { body: shown } = await svc.json('/v1/channels/default');
  const channel = {
    ...shown,
    appSecret: '',
    verifyToken: '',
    accessToken: null,
    allowSha1: false,
  } as Channel;
  const pause = pauseAfterTagsRead(() => patchTags(igsid, ['agent']));
  const engine = new Engine({
    db: svc.store.relaxed.withPlugin(pause),
    channels: () => [channel],
    automation: loadAutomationConfig(path),
    ai: createAi({ provider: 'none', timeoutMs: 1000, intent: 'offline' }, {}),
    log: createLogger('silent'),
    now: Date.now,
    jobs: new EmbeddedQueue(svc.store.relaxed),
    handoverAppId: null,
    conversationsApi: conversationsApiLimiter(),
  });
  // The API shows the job's time as a date; the queue hands it over in milliseconds.
  const outcomes = await engine.handle({ ...job, orderAt: Date.parse(job.orderAt) } as Job<EngineJob>);

  expect(pause.paused, 'the engine read the tags').toBe(true);
  expect(outcomes).toMatchObject([{ rule: 'vip', tags: ['agent', 'vip'] }]);
  expect((await conversation(svc, igsid)).tags).toEqual(['agent', 'vip']);
});
