import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { WebhookWriter } from '../ingest/writer.ts';
import { LAG_NOT_READY_MS, type Projection } from '../projection/thread.ts';
import type { JobAdmin } from '../queue/queue.ts';
import { freeDiskBytes } from '../store/files.ts';
import type { Store } from '../store/index.ts';
import { probe } from '../store/settings.ts';

// GET /healthz: the process is alive. GET /readyz: igdm can take webhooks and show what they
// changed; 503 with the reason of each part that cannot. A process in one role (docs/postgres.md,
// Roles) reports its own parts: `web` the store, ingest and disk; `worker` the store, the queue,
// applying and disk.

export interface HealthDeps {
  store: Store;
  /** A path on the disk igdm writes to: the SQLite file, or the data folder on PostgreSQL. */
  diskPath: string;
  /** The ingest path (not in a `worker` process). */
  writer?: WebhookWriter;
  /** Applying stored events (not in a `web` process). */
  projection?: Projection;
  /** The queue, reported on its own by a `worker` process. */
  queue?: Pick<JobAdmin, 'get'>;
  /** Less free space than this on the store's disk is not ready (0: not checked). */
  minFreeDiskBytes: number;
}

const Part = z.object({
  ok: z.boolean(),
  reason: z.string().optional().meta({ description: 'Why the part is not ok.' }),
});
type Part = z.infer<typeof Part>;

const Readiness = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    store: Part,
    ingest: Part.optional(),
    queue: Part.optional(),
    apply: Part.extend({
      backlog: z.number().optional().meta({ description: 'Stored events waiting to be applied.' }),
      lagMs: z.number().optional().meta({ description: 'How long the oldest of them has waited.' }),
      since: z.string().optional().meta({ format: 'date-time', description: 'Applying has failed since.' }),
    }).optional(),
    disk: Part.extend({ freeBytes: z.number() }),
  })
  .meta({ id: 'Readiness' });

const ok: Part = { ok: true };

async function storePart(store: Store): Promise<Part> {
  const damage = store.damage();
  if (damage) return { ok: false, reason: `damaged: ${damage}` };
  try {
    await probe(store.db);
    return ok;
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/**
 * The projection: applying works (a failure is retried), and it is not far behind the event log
 * (conversations show events late meanwhile; the API reads what is applied).
 */
function projectionPart(projection: Projection): Part & { since?: string; backlog: number; lagMs: number } {
  const { events, lagMs } = projection.backlog;
  const failure = projection.applyFailure;
  if (failure)
    return {
      ok: false,
      backlog: events,
      lagMs,
      since: new Date(failure.since).toISOString(),
      reason: `stored events cannot be applied (retrying): ${failure.message}`,
    };
  if (lagMs > LAG_NOT_READY_MS)
    return { ok: false, backlog: events, lagMs, reason: `${events} stored events wait to be applied` };
  return { ok: true, backlog: events, lagMs };
}

function diskPart(path: string, min: number): Part & { freeBytes: number } {
  const freeBytes = freeDiskBytes(path);
  if (freeBytes >= min) return { ok: true, freeBytes };
  const mib = (n: number) => `${Math.floor(n / 1024 / 1024)} MiB`;
  return {
    ok: false,
    freeBytes,
    reason: `${mib(freeBytes)} free, under IGDM_MIN_FREE_DISK_MB (${mib(min)})`,
  };
}

export async function healthRoutes(scope: FastifyInstance, deps: HealthDeps) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.get('/healthz', { schema: { response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));
  app.get('/readyz', { schema: { response: { 200: Readiness, 503: Readiness } } }, async (_req, reply) => {
    const answers = (ping: Promise<boolean>, who: string) =>
      ping.then((yes): Part => (yes ? ok : { ok: false, reason: `the ${who} does not answer` }));
    const { writer, projection, queue } = deps;
    const [store, ingest, projector, queuePart] = await Promise.all([
      storePart(deps.store),
      writer ? answers(writer.ping(), 'ingest worker') : undefined,
      projection ? answers(projection.ping(), 'projector') : undefined,
      queue?.get(0).then(
        (): Part => ok,
        (err: Error): Part => ({ ok: false, reason: err.message }),
      ),
    ]);
    const parts = {
      store,
      ...(ingest && { ingest }),
      ...(queuePart && { queue: queuePart }),
      ...(projector && { apply: projector.ok ? projectionPart(projection!) : projector }),
      disk: diskPart(deps.diskPath, deps.minFreeDiskBytes),
    };
    const ready = Object.values(parts).every((p) => p.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', ...parts });
  });
}
