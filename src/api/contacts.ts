import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { findContact, listContacts } from '../store/contacts.ts';
import { conversationsOfContact } from '../store/conversations.ts';
import type { Database } from '../store/schema.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { decodeCursor, encodeCursor, Page } from './pages.ts';
import { Contact, ContactWithConversations, page } from './schemas.ts';
import { contactView, conversationView } from './views.ts';

// Read API: the customers (contacts), newest first, and one with its profile and conversations.

const ListQuery = Page.extend({
  channelId: z.string().optional(),
  q: z.string().min(1).max(100).optional().meta({ description: 'A part of the username or name.' }),
});
const Params = z.object({ id: z.string().meta({ description: 'ct_…' }) });

export async function contactRoutes(
  scope: FastifyInstance,
  db: Kysely<Database>,
  now: () => number = Date.now,
) {
  const app = scope.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/contacts',
    { schema: { querystring: ListQuery, response: { 200: page(Contact) } } },
    async (req) => {
      const after = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
      if (after === null) throw errors.invalidCursor();
      const channels = req.principal.channels;
      const found = await listContacts(db, {
        ...req.query,
        ...(channels && { channelIds: [...channels] }),
        after,
      });
      const last = found.rows.at(-1);
      return {
        data: found.rows.map(contactView),
        nextCursor: found.more && last ? encodeCursor([Number(last.createdAt), last.id]) : null,
      };
    },
  );

  app.get(
    '/v1/contacts/:id',
    { schema: { params: Params, response: { 200: ContactWithConversations } } },
    async (req) => {
      const contact = await findContact(db, req.params.id);
      if (!contact || !sees(req, contact.channelId)) throw errors.contactNotFound(req.params.id);
      const conversations = await conversationsOfContact(db, contact.id);
      return { ...contactView(contact), conversations: conversations.map((c) => conversationView(c, now())) };
    },
  );
}
