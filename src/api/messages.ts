import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { PolicyError, queueRetry, queueSend } from '../engine/outbox.ts';
import { Content, SendValidationError } from '../meta/send.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { Channel } from '../store/channels.ts';
import { conversationIdOf } from '../store/ids.ts';
import { keptMediaOf } from '../store/kept-media.ts';
import { findMessage } from '../store/messages.ts';
import { findOutboxEntry, lastSendOf } from '../store/outbox.ts';
import type { Database } from '../store/schema.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { Message, SenderAction } from './schemas.ts';
import { messageView, senderActionView } from './views.ts';

// Sending: POST /v1/messages queues a message (202) or says why it cannot go (422); the sender
// delivers it. GET /v1/messages/:id follows it: queued, sent (with Meta's mid), seen, or failed.

/** What a message may hold, as parseContent checks it: a component of the document. */
Content.meta({ id: 'Content', description: "A message's content; see the README, Sending." });
/** The type provider names a component's request side `<id>Input`. */
const CONTENT_REF = '#/components/schemas/ContentInput';

const SendRequest = z
  .strictObject({
    channelId: z.string().min(1).default('default'),
    to: z.string().regex(/^\d+$/, "must be the customer's IGSID (digits)").optional(),
    commentId: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'A comment to answer with a private reply.' }),
    // Checked by parseContent, not here: content beyond Meta's limits is refused with 422
    // invalid_content naming each field, not 400. The document still shows its shape (Content).
    content: z.unknown().meta({ $ref: CONTENT_REF }),
    humanAgent: z.boolean().default(false),
    replyTo: z.string().min(1).optional().meta({ description: 'The mid of the message this one quotes.' }),
  })
  .refine((r) => (r.to === undefined) !== (r.commentId === undefined), {
    message: 'Give exactly one of "to" (an IGSID) or "commentId" (a private reply)',
  });

const Params = z.object({ id: z.string().meta({ description: 'msg_… or, for a sender action, out_…' }) });

export interface MessageDeps {
  db: Kysely<Database>;
  channels: () => readonly Channel[];
  /** Where the sends it queues go (send/send-jobs.ts). */
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  now: () => number;
  /** A person's reply (humanAgent) hands the conversation to humans: the bot falls silent. */
  handover: (conversationId: string, to: 'human') => Promise<unknown>;
}

export async function messageRoutes(scope: FastifyInstance, deps: MessageDeps) {
  const app = scope.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/v1/messages',
    { schema: { body: SendRequest, response: { 202: z.union([Message, SenderAction]) } } },
    async (req, reply) => {
      const { channelId, to, commentId, content, humanAgent, replyTo } = req.body;
      const channel = deps.channels().find((c) => c.id === channelId);
      if (!channel || !sees(req, channel.id)) throw errors.channelNotFound(channelId);
      // A person's key: what they send is theirs (a human reply).
      const { agent } = req.principal;
      try {
        // The message as it was queued, read before the commit: after it, the sender may have sent it.
        let accepted: Awaited<ReturnType<typeof findMessage>>;
        const queued = await queueSend(
          deps.db,
          deps.jobs,
          channel,
          {
            to,
            commentId,
            content,
            humanAgent,
            replyTo,
            ...(agent && { agent, author: 'human' as const }),
            also: async (trx, { messageId }) => {
              if (messageId) accepted = await findMessage(trx, messageId);
            },
          },
          deps.now(),
        );
        if (humanAgent && to !== undefined) await deps.handover(conversationIdOf(channel.id, to), 'human');
        if (!queued.messageId) {
          return reply.code(202).send({ id: queued.outboxId, type: queued.content.type, status: 'queued' });
        }
        // (A send of a cause asked again returns before the transaction: read it then.)
        return reply.code(202).send(messageView(accepted ?? (await findMessage(deps.db, queued.messageId))!));
      } catch (err) {
        if (err instanceof SendValidationError) throw errors.invalidContent(err.message, err.issues);
        if (err instanceof PolicyError) throw errors.sendRefused(err.reason, err.message);
        throw err;
      }
    },
  );

  app.get(
    '/v1/messages/:id',
    { schema: { params: Params, response: { 200: z.union([Message, SenderAction]) } } },
    async (req) => {
      const { id } = req.params;
      if (id.startsWith('out_')) {
        const o = await findOutboxEntry(deps.db, id);
        if (!o || !sees(req, o.channelId)) throw errors.messageNotFound(id);
        return senderActionView(o);
      }
      const row = await findMessage(deps.db, id);
      if (!row || !sees(req, row.channelId)) throw errors.messageNotFound(id);
      return messageView(row, (await keptMediaOf(deps.db, [row.id])).get(row.id));
    },
  );

  app.post(
    '/v1/messages/:id/retry',
    { schema: { params: Params, response: { 202: Message } } },
    async (req, reply) => {
      const { id } = req.params;
      const message = await findMessage(deps.db, id);
      if (!message || !sees(req, message.channelId)) throw errors.messageNotFound(id);
      const send = message.status === 'failed' ? await lastSendOf(deps.db, id) : undefined;
      if (!send) throw errors.messageNotFailed(id, message.status);
      const now = deps.now();
      try {
        const queued = await queueRetry(deps.db, deps.jobs, { ...send, messageId: id }, now);
        // Another retry took it between the read and the write.
        if (!queued) throw errors.messageNotFailed(id, 'queued');
      } catch (err) {
        if (err instanceof PolicyError) throw errors.sendRefused(err.reason, err.message);
        throw err;
      }
      // The message as the retry queued it: read after the commit, the sender may have sent it.
      return reply.code(202).send(messageView({ ...message, status: 'queued', error: null, updatedAt: now }));
    },
  );
}
