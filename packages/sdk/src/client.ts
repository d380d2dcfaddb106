import { ApiKeys } from './api-keys.ts';
import { Approvals } from './approvals.ts';
import { Attachments } from './attachments.ts';
import { Channels, Instagram } from './channels.ts';
import { Comments } from './comments.ts';
import { Contacts } from './contacts.ts';
import { Conversations } from './conversations.ts';
import { Events } from './events.ts';
import { Jobs } from './jobs.ts';
import { Media } from './media.ts';
import { Messages } from './messages.ts';
import { Sandbox } from './sandbox.ts';
import { SavedReplies } from './saved-replies.ts';
import { Transport, type TransportOptions } from './transport.ts';
import type { Me } from './types.ts';
import { WebhookEndpoints } from './webhook-endpoints.ts';
import { WebhookEvents } from './webhook-events.ts';

/**
 * igdm's REST API: `new Igdm({ baseUrl: 'http://localhost:3000', apiKey })`. Every call answers
 * igdm's JSON or throws an IgdmError.
 */
export class Igdm {
  readonly messages: Messages;
  readonly conversations: Conversations;
  readonly contacts: Contacts;
  /** The live event stream: `events.subscribe({ types }, handler)`. */
  readonly events: Events;
  readonly channels: Channels;
  readonly instagram: Instagram;
  readonly apiKeys: ApiKeys;
  readonly jobs: Jobs;
  /** Outbound webhooks: endpoints and the delivery log. */
  readonly webhookEndpoints: WebhookEndpoints;
  /** The webhook events Meta sent, with what became of each (an admin key's). */
  readonly webhookEvents: WebhookEvents;
  /** The team's saved replies. */
  readonly savedReplies: SavedReplies;
  /** igdm's copies of inbound media. */
  readonly media: Media;
  /** Comments on the account's media: list, public reply, hide, delete. */
  readonly comments: Comments;
  /** Files uploaded to Meta, to send by attachment id. */
  readonly attachments: Attachments;
  /** Approvals over DM: create, get, list, cancel, and wait for the decision. */
  readonly approvals: Approvals;
  /** Only when igdm runs its sandbox (no Instagram credentials); elsewhere its calls answer 404. */
  readonly sandbox: Sandbox;
  readonly #t: Transport;

  constructor(options: TransportOptions) {
    const t = new Transport(options);
    this.#t = t;
    this.messages = new Messages(t);
    this.conversations = new Conversations(t);
    this.contacts = new Contacts(t);
    this.events = new Events(t);
    this.channels = new Channels(t);
    this.instagram = new Instagram(t);
    this.apiKeys = new ApiKeys(t);
    this.jobs = new Jobs(t);
    this.webhookEndpoints = new WebhookEndpoints(t);
    this.webhookEvents = new WebhookEvents(t);
    this.savedReplies = new SavedReplies(t);
    this.media = new Media(t);
    this.comments = new Comments(t);
    this.attachments = new Attachments(t);
    this.approvals = new Approvals(t, this.events);
    this.sandbox = new Sandbox(t);
  }

  /** Who this client's key is: its name, agent, scopes and channels; and whether igdm runs its sandbox. */
  me(): Promise<Me> {
    return this.#t.request({ method: 'GET', path: '/v1/me' });
  }
}
