import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Insertable, Kysely } from 'kysely';
import { insertContact, type NewContact } from '../../src/store/contacts.ts';
import { insertConversation, type NewConversation } from '../../src/store/conversations.ts';
import { builder, type Database, openStore, type Store, type StoreKind } from '../../src/store/index.ts';
import { compile } from '../../src/store/prepared.ts';
import type { MessageTable } from '../../src/store/schema.ts';
import { createTestDatabase } from './postgres.ts';

// What the shared store suites (test/store/repositories.test.ts) build on either store: an empty store of each
// kind, and channels, customers and messages written as the projector writes them (its compiled
// inserts where the repositories have them, Kysely otherwise).

/** A new, migrated store of this kind, and how to be rid of it. */
export async function emptyStore(kind: StoreKind): Promise<{ store: Store; remove(): Promise<void> }> {
  if (kind === 'postgres') {
    const database = await createTestDatabase();
    const store = await openStore(database.url);
    return {
      store,
      async remove() {
        await store.close();
        await database.drop();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'igdm-store-'));
  const store = await openStore(`sqlite:${join(dir, 'igdm.sqlite')}`);
  return {
    store,
    async remove() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const newContact = compile<NewContact>(insertContact(builder));
const newConversation = compile<NewConversation>(insertConversation(builder));

export const uid = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

/** A channel of its own for a test, so that tests sharing a store see only their rows. */
export async function addChannel(db: Kysely<Database>): Promise<string> {
  const id = uid('ch');
  await db
    .insertInto('channels')
    .values({
      id,
      kind: 'instagram',
      accountId: uid('acct'),
      pageId: null,
      secrets: 'sealed',
      graphApiUrl: 'http://127.0.0.1:9',
      graphApiVersion: 'v24.0',
      allowSha1: 0,
      status: 'ok',
      name: null,
      deletedAt: null,
      apiFields: null,
      appId: null,
      createdAt: 1,
      updatedAt: 1,
    })
    .execute();
  return id;
}

export interface Customer {
  contactId: string;
  conversationId: string;
  igsid: string;
}

/** A customer's contact and conversation, first seen at `at`, as the projector inserts them. */
export async function addCustomer(db: Kysely<Database>, channelId: string, at: number): Promise<Customer> {
  const igsid = uid('igsid');
  const contactId = uid('ct');
  const conversationId = uid('cnv');
  await newContact.run(db, { id: contactId, channelId, igsid, now: at });
  await newConversation.run(db, { id: conversationId, channelId, igsid, contactId, at, now: at });
  return { contactId, conversationId, igsid };
}

export type NewMessage = Partial<Insertable<MessageTable>> & { createdAt: number };

/** A message in the conversation (inbound text unless said otherwise); its id. */
export async function addMessage(
  db: Kysely<Database>,
  channelId: string,
  conversationId: string,
  m: NewMessage,
): Promise<string> {
  const id = m.id ?? uid('msg');
  await db
    .insertInto('messages')
    .values({
      channelId,
      conversationId,
      mid: uid('mid'),
      direction: 'inbound',
      type: 'text',
      text: null,
      attachments: '[]',
      replyTo: null,
      payload: null,
      referral: null,
      reactions: '[]',
      status: 'received',
      isEcho: 0,
      editedAt: null,
      deletedAt: null,
      seenAt: null,
      error: null,
      author: 'customer',
      updatedAt: m.createdAt,
      ...m,
      id,
    })
    .execute();
  return id;
}
