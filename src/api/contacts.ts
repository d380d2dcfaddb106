import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { contactExport } from '../store/contact-export.ts';
import { findContact, listContacts } from '../store/contacts.ts';
import { conversationsOfContact } from '../store/conversations.ts';
import { kindOf } from '../store/dialect.ts';
import { eraseContact, lastErasure } from '../store/erasure.ts';
import { eraseContactPostgres } from '../store/erasure-postgres.ts';
import type { Database } from '../store/schema.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { decodeCursor, encodeCursor, Page } from './pages.ts';
import { Contact, ContactErasure, ContactExport, ContactWithConversations, page } from './schemas.ts';
import { contactView, conversationView, erasureView, exportView } from './views.ts';

// The customers (contacts), newest first, and one with its profile and conversations; everything
// igdm holds about one (export), and erasing it (admin: it cannot be undone).

const ListQuery = Page.extend({
  channelId: z.string().optional(),
  q: z.string().min(1).max(100).optional().meta({ description: 'A part of the username or name.' }),
});
const Params = z.object({ id: z.string().meta({ description: 'ct_…' }) });

export interface ContactRouteDeps {
  db: Kysely<Database>;
  now: () => number;
  /** A contact was erased: what kept their conversations in memory forgets them. */
  erased?: (conversationIds: readonly string[]) => void;
}

export async function contactRoutes(scope: FastifyInstance, deps: ContactRouteDeps) {
  const { db, now } = deps;
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
      // The profile as the contact's row has it: a profile saved between the two reads shows once.
      const { username, name, profilePic } = contact;
      return {
        ...contactView(contact),
        conversations: conversations.map((c) =>
          conversationView({ ...c, username, name, profilePic }, now()),
        ),
      };
    },
  );

  app.get(
    '/v1/contacts/:id/export',
    { schema: { params: Params, response: { 200: ContactExport } } },
    async (req) => {
      const data = await contactExport(db, req.params.id);
      if (!data || !sees(req, data.contact.channelId)) throw errors.contactNotFound(req.params.id);
      return exportView(data, now());
    },
  );

  app.delete(
    '/v1/contacts/:id',
    { config: { scope: 'admin' }, schema: { params: Params, response: { 200: ContactErasure } } },
    async (req) => {
      const id = req.params.id;
      const contact = await findContact(db, id);
      if (contact && !sees(req, contact.channelId)) throw errors.contactNotFound(id);
      const erase = kindOf(db) === 'postgres' ? eraseContactPostgres : eraseContact;
      const result = contact
        ? await erase(db, id, { keyId: req.principal.keyId, agent: req.principal.agent }, now())
        : ({ status: 'gone' } as const);
      if (result.status === 'busy') throw errors.contactBusy(id, result.reason);
      if (result.status === 'erased') {
        deps.erased?.(result.conversationIds);
        return erasureView(result.erasure);
      }
      // Erased already (a repeated request): the record of it.
      const earlier = await lastErasure(db, id);
      if (!earlier || !sees(req, earlier.channelId)) throw errors.contactNotFound(id);
      return erasureView(earlier);
    },
  );
}
