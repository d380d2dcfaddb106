import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { JobView, WorkQueue } from '../queue/queue.ts';
import { replyError } from './errors.ts';

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
  app.get('/v1/jobs', async (req, reply) => {
    const q = ListQuery.safeParse(req.query);
    if (!q.success) return replyError(reply, 400, 'invalid_query', z.prettifyError(q.error));
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

  app.get('/v1/jobs/:id', async (req, reply) => {
    const p = Id.safeParse(req.params);
    if (!p.success) return replyError(reply, 400, 'invalid_request', 'the job id is a number');
    const job = await queue.get(p.data.id);
    if (!job) return replyError(reply, 404, 'job_not_found', `No job ${p.data.id}`);
    return jobView(job);
  });

  /** A dead job runs again (its effects happen once: replies are keyed by the event). */
  app.post('/v1/jobs/:id/retry', async (req, reply) => {
    const p = Id.safeParse(req.params);
    if (!p.success) return replyError(reply, 400, 'invalid_request', 'the job id is a number');
    if (!(await queue.retry(p.data.id))) {
      const job = await queue.get(p.data.id);
      if (!job) return replyError(reply, 404, 'job_not_found', `No job ${p.data.id}`);
      return replyError(
        reply,
        409,
        'job_not_dead',
        `Job ${p.data.id} is ${job.status}; only dead jobs are retried`,
      );
    }
    return reply.code(202).send(jobView((await queue.get(p.data.id))!));
  });
}
