import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import { looksSigned, readSignedRequest, signedWith } from '../meta/signed-request.ts';
import type { Channel } from '../store/channels.ts';
import { findDataDeletion, newConfirmationCode, recordDataDeletion } from '../store/data-deletions.ts';
import { kindOf } from '../store/dialect.ts';
import { eraseContact } from '../store/erasure.ts';
import { eraseContactPostgres } from '../store/erasure-postgres.ts';
import { contactIdOf } from '../store/ids.ts';
import type { Database } from '../store/schema.ts';
import { errors } from './errors.ts';

// Meta's data deletion request callback: when a person removes the app, Meta POSTs a form with
// `signed_request` (signed with the app secret, naming the person's app-scoped id, the IGSID). igdm
// erases that person's data as DELETE /v1/contacts/:id does, on every channel of that app, and
// answers `{ url, confirmation_code }`: the URL is a status page that needs no key (the person
// opens it). A request not signed with a channel's app secret erases nothing (400, with the reason).
// POST /meta/data-deletion tries every channel's app secret; /meta/data-deletion/:channelId only
// that channel's (for apps whose secrets differ per channel).

export interface DataDeletionDeps {
  db: Kysely<Database>;
  channels: () => readonly Channel[];
  now: () => number;
  log: Logger;
  /** PUBLIC_URL: the address Meta and people reach igdm at (else the request's host). */
  publicUrl: string | null;
  /** Contacts were erased: their conversations, for what keeps them in memory. */
  erased?: (conversationIds: readonly string[]) => void;
}

const FORM_LIMIT = 64 * 1024;
/** How long a contact busy with work in flight (which settles within seconds) is waited for. */
const BUSY_WAIT_MS = 10_000;

type Req = FastifyRequest<{ Params: { channelId?: string; code?: string } }>;

const header = (req: FastifyRequest, name: string) => {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v)?.split(',')[0]?.trim() || undefined;
};

export async function dataDeletionRoutes(app: FastifyInstance, deps: DataDeletionDeps) {
  // Meta posts a form; JSON ({"signed_request": ...}) is taken too.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, body, done) =>
    done(null, body),
  );

  const signedRequestOf = (req: FastifyRequest): string | undefined => {
    const text = typeof req.body === 'string' ? req.body : '';
    if (String(req.headers['content-type'] ?? '').includes('application/json')) {
      try {
        const v = (JSON.parse(text) as { signed_request?: unknown }).signed_request;
        return typeof v === 'string' ? v : undefined;
      } catch {
        return undefined;
      }
    }
    return new URLSearchParams(text).get('signed_request') ?? undefined;
  };

  const base = (req: FastifyRequest) =>
    deps.publicUrl ??
    `${header(req, 'x-forwarded-proto') ?? req.protocol}://${header(req, 'x-forwarded-host') ?? req.host}`;

  /** Erases the contact, waiting a little while work in flight on it settles. */
  const erase = async (contactId: string) => {
    const deadline = Date.now() + BUSY_WAIT_MS;
    // As DELETE /v1/contacts/:id erases, on either store.
    const eraseOn = kindOf(deps.db) === 'postgres' ? eraseContactPostgres : eraseContact;
    for (;;) {
      const result = await eraseOn(
        deps.db,
        contactId,
        { keyId: null, agent: 'Meta data deletion request' },
        deps.now(),
      );
      if (result.status !== 'busy') return result;
      if (Date.now() > deadline) throw errors.contactBusy(contactId, result.reason);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const receive = async (req: Req) => {
    const id = req.params.channelId;
    const candidates = id === undefined ? deps.channels() : deps.channels().filter((c) => c.id === id);
    if (id !== undefined && candidates.length === 0) throw errors.channelNotFound(id);
    const signed = signedRequestOf(req);
    if (!signed) throw errors.signedRequestInvalid('is missing (a form field)');
    if (!looksSigned(signed)) throw errors.signedRequestInvalid('is not <signature>.<payload> in base64url');
    // The signature first: what an unsigned payload says is not read.
    const apps = candidates.filter((c) => signedWith(signed, c.appSecret));
    if (apps.length === 0) throw errors.signedRequestInvalid('is not signed with the app secret');
    const read = readSignedRequest(signed);
    if (!read.ok) throw errors.signedRequestInvalid(read.reason);

    // The person, on every channel of the app that signed: the same id is theirs on each.
    const userId = read.payload.user_id;
    let contacts = 0;
    for (const channel of apps) {
      const result = await erase(contactIdOf(channel.id, userId));
      if (result.status === 'erased') {
        contacts++;
        deps.erased?.(result.conversationIds);
      }
    }
    const code = newConfirmationCode();
    await recordDataDeletion(deps.db, {
      code,
      channelId: apps.length === 1 ? apps[0]!.id : null,
      contacts,
      status: 'completed',
      receivedAt: deps.now(),
    });
    deps.log.info({ code, channels: apps.map((c) => c.id), contacts }, 'Meta data deletion request done');
    return { url: `${base(req)}/meta/data-deletion/${code}`, confirmation_code: code };
  };

  app.post('/meta/data-deletion', receive);
  app.post('/meta/data-deletion/:channelId', receive);

  // The status page the person opens with the URL: no key, nothing about them but the outcome.
  app.get('/meta/data-deletion/:code', async (req: Req) => status(req.params.code!));
  async function status(code: string) {
    const found = /^[0-9a-f]{24}$/.test(code) ? await findDataDeletion(deps.db, code) : undefined;
    if (!found) throw errors.deletionRequestNotFound(code);
    return {
      confirmationCode: found.code,
      status: found.status,
      receivedAt: new Date(found.receivedAt).toISOString(),
      message:
        found.contacts > 0
          ? 'Your data from this Instagram account was deleted: conversations, messages and profile.'
          : 'This Instagram account held no data about you: there was nothing to delete.',
    };
  }
}
