import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { PolicyError, queueSend } from '../engine/outbox.ts';
import { SendValidationError } from '../meta/send.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { Channel } from '../store/channels.ts';
import { conversationIdOf } from '../store/ids.ts';
import { findMessage } from '../store/messages.ts';
import { findOutboxEntry } from '../store/outbox.ts';
import type { Database } from '../store/schema.ts';
import { errors } from './errors.ts';
import { messageView, senderActionView } from './views.ts';

// Sending: POST /v1/messages queues a message (202) or says why it cannot go (422); the sender
// delivers it. GET /v1/messages/:id follows it: queued, sent (with Meta's mid), seen, or failed.

const SendRequest = z.strictObject({
  channelId: z.string().min(1).default('default'),
  to: z.string().regex(/^\d+$/, "must be the customer's IGSID (digits)").optional(),
  commentId: z.string().min(1).optional(),
  content: z.unknown(),
  humanAgent: z.boolean().default(false),
  replyTo: z.string().min(1).optional(),
});

export interface MessageDeps {
  db: Kysely<Database>;
  channels: () => readonly Channel[];
  /** Tells the sender there is work. */
  /** Where the sends it queues go (send/send-jobs.ts). */
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  now: () => number;
  /** A person's reply (humanAgent) hands the conversation to humans: the bot falls silent. */
  handover: (conversationId: string, to: 'human') => Promise<unknown>;
}

export async function messageRoutes(app: FastifyInstance, deps: MessageDeps) {
  app.post('/v1/messages', async (req, reply) => {
    const parsed = SendRequest.safeParse(req.body);
    if (!parsed.success) throw errors.invalidRequest(z.prettifyError(parsed.error));
    const { channelId, to, commentId, content, humanAgent, replyTo } = parsed.data;
    if ((to === undefined) === (commentId === undefined)) {
      throw errors.invalidRequest('Give exactly one of "to" (an IGSID) or "commentId" (a private reply)');
    }
    const channel = deps.channels().find((c) => c.id === channelId);
    if (!channel) throw errors.channelNotFound(channelId);
    try {
      const queued = await queueSend(
        deps.db,
        deps.jobs,
        channel,
        { to, commentId, content, humanAgent, replyTo },
        deps.now(),
      );
      if (humanAgent && to !== undefined) await deps.handover(conversationIdOf(channel.id, to), 'human');
      if (!queued.messageId) {
        return reply.code(202).send({ id: queued.outboxId, type: queued.content.type, status: 'queued' });
      }
      return reply.code(202).send(messageView((await findMessage(deps.db, queued.messageId))!));
    } catch (err) {
      if (err instanceof SendValidationError) throw errors.invalidContent(err.message, err.issues);
      if (err instanceof PolicyError) throw errors.sendRefused(err.reason, err.message);
      throw err;
    }
  });

  app.get<{ Params: { id: string } }>('/v1/messages/:id', async (req) => {
    const { id } = req.params;
    if (id.startsWith('out_')) {
      const o = await findOutboxEntry(deps.db, id);
      if (!o) throw errors.messageNotFound(id);
      return senderActionView(o);
    }
    const row = await findMessage(deps.db, id);
    if (!row) throw errors.messageNotFound(id);
    return messageView(row);
  });
}
