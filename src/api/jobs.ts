import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { JobView, WorkQueue } from '../queue/queue.ts';
import { errors } from './errors.ts';
import { Job, JobPage } from './schemas.ts';

// The queue's jobs: what the engine did with each event (its result), what is waiting, and the
// dead letters (jobs that failed their last attempt), which can be run again. They are the whole
// queue's, every channel's: an admin key that sees every channel.

const ListQuery = z.object({
  status: z.enum(['ready', 'active', 'done', 'dead']).optional(),
  queue: z.string().optional(),
  conversationId: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** Jobs older than this id (the previous page's nextCursor). */
  cursor: z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .meta({ description: "The previous page's nextCursor." }),
});

const Id = z.object({ id: z.coerce.number().int().positive() });
/** Jobs are for operators (admin keys); a job id that is not a number is the catalog's own error. */
const config = {
  scope: 'admin' as const,
  allChannels: true as const,
  invalidInput: () => errors.invalidJobId(),
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function jobView(j: JobView): z.output<typeof Job> {
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

export async function jobRoutes(scope: FastifyInstance, queue: WorkQueue) {
  const app = scope.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/jobs',
    {
      config: { scope: 'admin', allChannels: true },
      schema: { querystring: ListQuery, response: { 200: JobPage } },
    },
    async (req) => {
      const { status, queue: name, conversationId, limit, cursor } = req.query;
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
    },
  );

  app.get('/v1/jobs/:id', { config, schema: { params: Id, response: { 200: Job } } }, async (req) => {
    const job = await queue.get(req.params.id);
    if (!job) throw errors.jobNotFound(req.params.id);
    return jobView(job);
  });

  /** A dead job runs again (its effects happen once: replies are keyed by the event). */
  app.post(
    '/v1/jobs/:id/retry',
    { config, schema: { params: Id, response: { 202: Job } } },
    async (req, reply) => {
      const { id } = req.params;
      if (!(await queue.retry(id))) {
        const job = await queue.get(id);
        throw job ? errors.jobNotDead(id, job.status) : errors.jobNotFound(id);
      }
      return reply.code(202).send(jobView((await queue.get(id))!));
    },
  );
}
