import { z } from 'zod';

// What the API answers, as zod schemas: the serializer checks every response against its route's
// schema, and /openapi.json describes them. The views (views.ts, jobs.ts) build these shapes.

/** An ISO 8601 time. Not checked as one: a far-off timestamp Meta sent shows as toISOString gives it. */
const time = z.string().meta({ format: 'date-time' });
const nullableTime = time.nullable();

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable, machine-readable: `invalid_request`, `not_found` ...' }),
      message: z.string(),
      issues: z
        .array(z.object({ path: z.string(), message: z.string() }))
        .optional()
        .meta({ description: 'With `invalid_content`: each field beyond what Meta accepts.' }),
    }),
  })
  .meta({ id: 'Error' });

/** A page of a list: `nextCursor` is passed as `cursor` for the next page, null on the last. */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });

const referralIds = {
  ref: z.string().nullable().meta({ description: "The ig.me link's `ref` parameter." }),
  source: z.string().nullable().meta({ description: 'SHORTLINKS (an ig.me link), ADS, …' }),
  type: z.string().nullable().meta({ description: 'OPEN_THREAD, …' }),
  adId: z.string().nullable().meta({ description: "The ad's id, when an ad opened the thread." }),
};

/** An ig.me link or an ad that brought the customer (Meta's referral). */
export const Referral = z.object({
  ...referralIds,
  adsContextData: z.unknown().nullable().meta({
    description: 'The ad as Meta describes it (`ad_title`, `photo_url`, `video_url`, `post_id`, …).',
  }),
});

export const Conversation = z
  .object({
    id: z.string(),
    channelId: z.string(),
    igsid: z.string().meta({ description: "The customer's Instagram-scoped id." }),
    contact: z.object({
      id: z.string(),
      username: z.string().nullable(),
      name: z.string().nullable(),
      profilePic: z.string().nullable(),
    }),
    status: z.enum(['open', 'pending', 'resolved']),
    threadOwner: z.enum(['bot', 'human']),
    intent: z.string().nullable(),
    tags: z.array(z.string()),
    assignee: z.string().nullable().meta({ description: 'The agent handling the conversation (a name).' }),
    source: z
      .object(referralIds)
      .nullable()
      .meta({ description: 'Where the customer came from: the first referral (ig.me link or ad), or null.' }),
    unread: z
      .number()
      .int()
      .meta({ description: 'Inbound messages since an agent last read it (POST …/read).' }),
    notesCount: z.number().int().meta({ description: 'Internal notes (GET …/notes).' }),
    lastMessage: z
      .object({
        id: z.string(),
        direction: z.enum(['inbound', 'outbound']),
        type: z.string(),
        text: z.string().nullable(),
        deletedAt: z.string().nullable(),
        createdAt: nullableTime,
      })
      .nullable()
      .meta({ description: 'The newest message, in brief (for a preview); null before any.' }),
    lastInboundAt: nullableTime,
    lastMessageAt: nullableTime,
    windowClosesAt: nullableTime.meta({ description: 'When the 24-hour messaging window closes.' }),
    windowOpen: z.boolean(),
    humanWindowClosesAt: nullableTime.meta({
      description: 'Until when a human agent may still answer (7 days, with the HUMAN_AGENT tag).',
    }),
    createdAt: nullableTime,
    updatedAt: nullableTime,
  })
  .meta({ id: 'Conversation' });

export const Contact = z
  .object({
    id: z.string(),
    channelId: z.string(),
    igsid: z.string().meta({ description: "The customer's Instagram-scoped id." }),
    username: z.string().nullable(),
    name: z.string().nullable(),
    profilePic: z.string().nullable().meta({ description: "A CDN URL from Meta's profile API; it expires." }),
    profileCheckedAt: nullableTime.meta({ description: 'When the profile was last asked of Meta.' }),
    createdAt: nullableTime,
    updatedAt: nullableTime,
  })
  .meta({ id: 'Contact' });

export const ContactWithConversations = Contact.extend({ conversations: z.array(Conversation) }).meta({
  id: 'ContactWithConversations',
});

export const Note = z
  .object({
    id: z.string(),
    conversationId: z.string(),
    text: z.string(),
    author: z.string().nullable().meta({ description: 'The agent whose API key wrote it, or null.' }),
    createdAt: nullableTime,
  })
  .meta({ id: 'Note' });

export const Message = z
  .object({
    id: z.string(),
    mid: z.string().nullable().meta({ description: "Meta's message id; null while queued." }),
    conversationId: z.string(),
    channelId: z.string(),
    direction: z.enum(['inbound', 'outbound']),
    type: z.string().meta({
      description:
        "text, image, video, audio, file, share, story_mention, story_reply, product_share (a shop's product: its attachment has `products`) ...",
    }),
    text: z.string().nullable(),
    attachments: z.array(z.unknown()),
    replyTo: z.unknown().nullable(),
    payload: z.string().nullable().meta({ description: 'A quick reply or postback payload.' }),
    referral: Referral.nullable().meta({ description: 'The ig.me link or ad the message came with.' }),
    reactions: z.array(
      z.object({ by: z.string(), reaction: z.string(), emoji: z.string().nullable(), at: nullableTime }),
    ),
    status: z.string().meta({ description: 'received, queued, sent, seen or failed.' }),
    error: z
      .unknown()
      .nullable()
      .meta({ description: 'Why a message igdm sent failed: { reason, message, code?, subcode? }.' }),
    isEcho: z.boolean(),
    possibleDuplicate: z.boolean(),
    backfilled: z.boolean().meta({
      description:
        'igdm missed its webhook (an outage) and read it from the Conversations API later: see README, Catching up.',
    }),
    author: z.enum(['customer', 'bot', 'human', 'api', 'approval']).nullable().meta({
      description:
        'approval: an approval DM, or igdm answering its approver. null on outbound messages stored before authors were recorded.',
    }),
    approvalId: z.string().nullable().meta({
      description: 'The approval the message is about (its DM, an answer, a reply); null elsewhere.',
    }),
    agent: z
      .string()
      .nullable()
      .meta({ description: 'The person who wrote it, when their API key names them (an agent).' }),
    editedAt: nullableTime,
    deletedAt: nullableTime,
    seenAt: nullableTime,
    createdAt: nullableTime,
  })
  .meta({ id: 'Message' });

/** A mention of the account in the contact's story. */
export const StoryMention = z
  .object({
    id: z.string(),
    conversationId: z.string(),
    mid: z.string(),
    storyId: z.string().nullable(),
    mediaUrl: z.string().nullable().meta({ description: "The story's CDN URL; it expires with the story." }),
    createdAt: nullableTime,
  })
  .meta({ id: 'StoryMention' });

/** A send to the contact, as the outbox has it. */
export const Send = z
  .object({
    id: z.string(),
    messageId: z.string().nullable(),
    conversationId: z.string().nullable(),
    kind: z.string().meta({ description: 'text, image, reaction, typing ...' }),
    status: z.enum(['queued', 'sending', 'unconfirmed', 'sent', 'failed']),
    attempts: z.number().int(),
    body: z.unknown().meta({ description: 'The Send API body.' }),
    mid: z.string().nullable(),
    error: z.unknown().nullable(),
    createdAt: nullableTime,
    sentAt: nullableTime,
  })
  .meta({ id: 'Send' });

/** A comment of the contact's on one of the account's posts. */
export const ContactComment = z
  .object({
    id: z.string(),
    commentId: z.string(),
    mediaId: z.string().nullable(),
    parentId: z.string().nullable(),
    username: z.string().nullable(),
    text: z.string().nullable(),
    createdAt: nullableTime,
  })
  .meta({ id: 'ContactComment' });

/** An entry of the event log, as GET /v1/events delivers it. */
export const LoggedEvent = z
  .object({
    id: z.string(),
    event: z.string(),
    createdAt: z.string(),
    channelId: z.string(),
    conversationId: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'LoggedEvent' });

/** A webhook event about the contact, as Meta sent it (one item of a delivery). */
export const RawWebhookEvent = z
  .object({
    id: z.number().int(),
    object: z.string(),
    source: z.string().meta({ description: 'messaging, standby or changes.' }),
    kind: z.string(),
    entryId: z.string().nullable(),
    metaTimestamp: nullableTime,
    receivedAt: nullableTime,
    appliedAt: nullableTime,
    applyError: z.string().nullable(),
    payload: z.unknown(),
  })
  .meta({ id: 'RawWebhookEvent' });

/** A stored webhook event and what became of it (GET /v1/webhook-events). */
export const WebhookEvent = z
  .object({
    id: z.number().int(),
    channelId: z.string().nullable().meta({ description: 'null: no channel has the account.' }),
    kind: z.string().meta({ description: 'message, echo, reaction, edit, comments, ... as stored.' }),
    object: z.string(),
    source: z.string().meta({ description: 'messaging, standby, changes or unknown.' }),
    status: z.enum(['applied', 'unapplied', 'ignored']).meta({
      description:
        'applied; unapplied: igdm could not read or apply it (`igdm replay --unapplied` tries again); ignored: deliberately not applied.',
    }),
    reason: z.string().nullable().meta({ description: 'Why it was not applied; null when applied.' }),
    receivedAt: time,
    raw: z.unknown().meta({ description: 'The item exactly as Meta sent it.' }),
  })
  .meta({ id: 'WebhookEvent' });

export const ContactExport = z
  .object({
    exportedAt: time,
    contact: Contact,
    conversations: z.array(Conversation),
    messages: z.array(Message).meta({ description: 'Every message of their conversations, oldest first.' }),
    notes: z.array(Note),
    storyMentions: z.array(StoryMention),
    sends: z.array(Send),
    comments: z.array(ContactComment),
    events: z.array(LoggedEvent),
    webhookEvents: z.array(RawWebhookEvent),
  })
  .meta({ id: 'ContactExport' });

const count = z.number().int();
export const ContactErasure = z
  .object({
    id: z.string(),
    contactId: z.string(),
    channelId: z.string(),
    erasedAt: time,
    erasedBy: z.object({
      keyId: z.string().nullable().meta({ description: 'The API key that asked; null for IGDM_API_KEY.' }),
      agent: z.string().nullable(),
    }),
    counts: z
      .object({
        conversations: count,
        messages: count,
        notes: count,
        storyMentions: count,
        comments: count,
        sends: count.meta({ description: 'Outbox rows whose content and address were erased.' }),
        sendsCancelled: count.meta({ description: 'Queued sends that will not go (failed: erased).' }),
        events: count,
        webhookEvents: count,
        jobs: count.meta({ description: 'Finished jobs whose results were cleared.' }),
        webhookDeliveries: count.meta({ description: 'Outbound webhook deliveries, with their attempts.' }),
        media: count.meta({ description: 'Copies of their media, files included.' }),
        approvals: count.meta({ description: 'Approvals asked of them, with their fields.' }),
      })
      .meta({ description: 'Rows erased, by kind.' }),
  })
  .meta({ id: 'ContactErasure' });

/** A sender action (typing, seen, a reaction): no message of its own, its outbox row tells. */
export const SenderAction = z
  .object({
    id: z.string(),
    type: z.string(),
    status: z.enum(['queued', 'sending', 'unconfirmed', 'sent', 'failed']),
    error: z.unknown().nullable().optional(),
  })
  .meta({ id: 'SenderAction' });

const jobStatus = z.enum(['ready', 'active', 'done', 'dead']);

export const Job = z
  .object({
    id: z.number().int(),
    queue: z.string(),
    conversationId: z.string().meta({ description: "The job's key: the conversation it belongs to." }),
    status: jobStatus,
    attempts: z.number().int(),
    error: z.string().nullable(),
    result: z.unknown(),
    payload: z.unknown(),
    orderAt: nullableTime,
    runAt: nullableTime,
    createdAt: nullableTime,
    finishedAt: nullableTime,
  })
  .meta({ id: 'Job' });

export const JobPage = page(Job).extend({ counts: z.record(jobStatus, z.number().int()) });

export const WebhookSubscription = z
  .object({
    state: z.enum(['active', 'inactive', 'unknown']),
    fields: z.array(z.string()),
    checkedAt: z.string(),
    detail: z.string().nullable(),
  })
  .meta({ id: 'WebhookSubscription' });

/** What a backfill run did (POST /v1/channels/:id/import, igdm backfill). */
export const BackfillReport = z
  .object({
    channelId: z.string(),
    trigger: z.enum(['start', 'schedule', 'import']),
    since: z.string(),
    startedAt: z.string(),
    finishedAt: z.string(),
    conversationsChecked: z.number().int(),
    messagesRecovered: z.number().int(),
    possiblyMissing: z
      .array(
        z.object({ conversationId: z.string(), igsid: z.string().nullable(), oldestShownAt: z.string() }),
      )
      .meta({
        description:
          'Conversations whose older messages Meta no longer shows (it shows the 20 newest), though they are newer than `since`: some may be lost.',
      }),
    subscription: WebhookSubscription,
    error: z.object({ reason: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: 'BackfillReport' });

export const Channel = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    kind: z.string(),
    login: z.enum(['instagram', 'facebook']),
    accountId: z.string().nullable(),
    pageId: z.string().nullable(),
    graphApiUrl: z.string(),
    graphApiVersion: z.string(),
    appId: z.string().nullable().meta({ description: "The Meta app's id (debug_token), if given." }),
    status: z.enum(['ok', 'throttled', 'needs_token', 'paused']),
    token: z
      .object({
        state: z.enum(['unknown', 'ok', 'expiring', 'expired']),
        expiresAt: z.string().nullable().meta({ format: 'date-time' }),
        expiresInDays: z.number().int().nullable(),
        refreshedAt: z.string().nullable().meta({ format: 'date-time' }),
        problem: z.string().nullable(),
      })
      .meta({
        description:
          'The access token: when it expires (null: unknown, or never), when igdm last refreshed it, and why it could not (expiring: within 7 days, not refreshed).',
      }),
    secrets: z
      .object({ accessToken: z.boolean(), appSecret: z.boolean(), verifyToken: z.boolean() })
      .meta({ description: 'Which secrets are set (they are never shown).' }),
    webhookSubscription: WebhookSubscription.nullable().meta({
      description:
        "Whether the app still gets the account's webhooks, as the last backfill found it; null: not checked yet.",
    }),
  })
  .meta({ id: 'Channel' });
