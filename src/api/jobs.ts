import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { JobView, WorkQueue } from '../queue/queue.ts';
import { errors } from './errors.ts';

// The queue's jobs: what the engine did with each event (its result), what is waiting, and the
// dead letters (jobs that failed their last attempt), which can be run again.

const ListQuery = z.object({
  status: z.enum(['ready', 'active', 'done', 'dead']).optional(),
  queue: z.string().optional(),
  conversationId: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** Jobs older than this id (the previous page's nextCursor). */
  cursor: z.coerce.number().int().positive().optional(),
});

const Id = z.object({ id: z.coerce.number().int().positive() });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function jobView(j: JobView) {
  return {
    id: j.id,
    queue: j.queue,
    conversationId: j.key,
    status: j.status,
    attempts: j.attempts,
    error: j.error,
    result: j.result,
    payload: j.payload,
    orderAt: iso(j.orderAt),
    runAt: iso(j.runAt),
    createdAt: iso(j.createdAt),
    finishedAt: iso(j.finishedAt),
  };
}

export async function jobRoutes(app: FastifyInstance, queue: WorkQueue) {
  app.get('/v1/jobs', async (req) => {
    const q = ListQuery.safeParse(req.query);
    if (!q.success) throw errors.invalidQuery(z.prettifyError(q.error));
    const { status, queue: name, conversationId, limit, cursor } = q.data;
    const rows = await queue.list({
      limit: limit + 1,
      ...(status && { status }),
      ...(name && { queue: name }),
      ...(conversationId && { key: conversationId }),
      ...(cursor !== undefined && { before: cursor }),
    });
    const page = rows.slice(0, limit);
    return {
      data: page.map(jobView),
      counts: await queue.counts(),
      nextCursor: rows.length > limit ? String(page.at(-1)!.id) : null,
    };
  });

  app.get('/v1/jobs/:id', async (req) => {
    const p = Id.safeParse(req.params);
    if (!p.success) throw errors.invalidJobId();
    const job = await queue.get(p.data.id);
    if (!job) throw errors.jobNotFound(p.data.id);
    return jobView(job);
  });

  /** A dead job runs again (its effects happen once: replies are keyed by the event). */
  app.post('/v1/jobs/:id/retry', async (req, reply) => {
    const p = Id.safeParse(req.params);
    if (!p.success) throw errors.invalidJobId();
    if (!(await queue.retry(p.data.id))) {
      const job = await queue.get(p.data.id);
      throw job ? errors.jobNotDead(p.data.id, job.status) : errors.jobNotFound(p.data.id);
    }
    return reply.code(202).send(jobView((await queue.get(p.data.id))!));
  });
}
