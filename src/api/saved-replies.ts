import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { LIMITS } from '../meta/send.ts';
import {
  deleteSavedReply,
  insertSavedReply,
  listSavedReplies,
  type SavedReply,
  updateSavedReply,
} from '../store/saved-replies.ts';
import type { Database } from '../store/schema.ts';
import { errors } from './errors.ts';

// Saved replies: the team's texts, picked in the inbox by typing `#` and their shortcut. Shared by
// every key, whatever its channels (they belong to none); reads need `read`, changes `send`. The
// text is held to Meta's limit for a message (1000 bytes of UTF-8), so that one can always be sent.

const iso = (ms: number) => new Date(ms).toISOString();

const SavedReplyView = z
  .object({
    id: z.string(),
    shortcut: z.string(),
    text: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'SavedReply' });

const Shortcut = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9_-]{1,32}$/, 'a shortcut is 1 to 32 letters, digits, "_" or "-"')
  .meta({ description: 'Lower-cased; unique.' });
// Its length in bytes is checked in the handler: beyond Meta's limit is 422 invalid_content, as a send's.
const Text = z
  .string()
  .refine((s) => s.trim() !== '', 'must not be empty')
  .meta({ description: `At most ${LIMITS.textBytes} bytes of UTF-8 (Meta's limit for a message).` });

const NewSavedReply = z.strictObject({ shortcut: Shortcut, text: Text });
const SavedReplyChange = z
  .strictObject({ shortcut: Shortcut.optional(), text: Text.optional() })
  .refine((c) => c.shortcut !== undefined || c.text !== undefined, 'give shortcut or text to change');
const Params = z.object({ id: z.string().meta({ description: 'sr_…' }) });

const view = (r: SavedReply) => ({ ...r, createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt) });

function checkText(text: string | undefined) {
  if (text === undefined || Buffer.byteLength(text, 'utf8') <= LIMITS.textBytes) return;
  const message = `must be at most ${LIMITS.textBytes} bytes of UTF-8 (Meta's limit for a message)`;
  throw errors.invalidContent(`text ${message}`, [{ path: 'text', message }]);
}

export async function savedReplyRoutes(
  scope: FastifyInstance,
  deps: { db: Kysely<Database>; now: () => number },
) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { db, now } = deps;

  app.get(
    '/v1/saved-replies',
    {
      schema: {
        response: { 200: z.object({ data: z.array(SavedReplyView) }) },
        description: 'Every saved reply, by shortcut.',
      },
    },
    async () => ({ data: (await listSavedReplies(db)).map(view) }),
  );

  app.post(
    '/v1/saved-replies',
    { schema: { body: NewSavedReply, response: { 201: SavedReplyView } } },
    async (req, reply) => {
      checkText(req.body.text);
      const made = await insertSavedReply(db, req.body, now());
      if (made === 'exists') throw errors.savedReplyExists(req.body.shortcut);
      return reply.code(201).send(view(made));
    },
  );

  app.patch(
    '/v1/saved-replies/:id',
    { schema: { params: Params, body: SavedReplyChange, response: { 200: SavedReplyView } } },
    async (req) => {
      checkText(req.body.text);
      const changed = await updateSavedReply(db, req.params.id, req.body, now());
      if (changed === 'not_found') throw errors.savedReplyNotFound(req.params.id);
      if (changed === 'exists') throw errors.savedReplyExists(req.body.shortcut ?? '');
      return view(changed);
    },
  );

  app.delete(
    '/v1/saved-replies/:id',
    { schema: { params: Params, response: { 204: z.null().meta({ description: 'Deleted.' }) } } },
    async (req, reply) => {
      if (!(await deleteSavedReply(db, req.params.id))) throw errors.savedReplyNotFound(req.params.id);
      return reply.code(204).send(null);
    },
  );
}
