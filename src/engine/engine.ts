import type { Kysely } from 'kysely';
import type { ApprovalAnswers, ApprovalOutcome } from '../approvals/answers.ts';
import { BACKFILLED_REPLY_MAX_AGE_MS } from '../backfill/policy.ts';
import { queueRuleWebhook } from '../deliveries/rule-webhooks.ts';
import type { Limiter } from '../graph/rate-limit.ts';
import type { Logger } from '../log.ts';
import type { DomainEvent, EchoEvent } from '../meta/events.ts';
import { normalise } from '../meta/normalise.ts';
import { type Content, SendValidationError } from '../meta/send.ts';
import { type Job, type JobQueue, RetryLater } from '../queue/queue.ts';
import type { QueuedHere } from '../send/queued-here.ts';
import type { Channel } from '../store/channels.ts';
import { contactName } from '../store/contacts.ts';
import { type AutomationView, addTags, automationView, setIntent } from '../store/conversations.ts';
import { eventAndConversation } from '../store/engine-reads.ts';
import { recordEvents } from '../store/events.ts';
import { conversationIdOf, messageIdOf } from '../store/ids.ts';
import { lastTurns, setAuthor } from '../store/messages.ts';
import { attemptedSend, sentByIgdm, unsettledSend } from '../store/outbox.ts';
import type { Database } from '../store/schema.ts';
import { rawEventOf, type StoredEvent } from '../store/webhook-events.ts';
import {
  type AiProvider,
  type AiTurn,
  CONTEXT_TURNS,
  classifyWithFallback,
  draftWithFallback,
} from './ai/index.ts';
import type { AutomationConfig, Rule } from './automation/config.ts';
import { matchRule, type ReplyVars, renderReply } from './automation/rules.ts';
import { answerComment } from './comment-rules.ts';
import { handOver, type Owner, ownerAfter } from './handover.ts';
import { classifyIntent } from './intent/classifier.ts';
import { PolicyError, queueSend } from './outbox.ts';
import { recordStoryMention } from './story-mentions.ts';

// The conversation engine: one job per event the projector applied (see projection/engine-jobs.ts),
// run by the queue one conversation at a time, in Meta's order. For a customer's event it
// classifies the intent, then, while the bot owns the conversation, runs the first matching rule
// (or the AI) and queues the replies. Replies are outbox rows keyed by the event and the rule, so a
// job run twice (a crash, a redelivery, a replay) queues them once. What a job did is its result,
// kept with the job (GET /v1/jobs): silence always has a recorded reason.

export interface EngineDeps {
  db: Kysely<Database>;
  channels: () => readonly Channel[];
  /** The rules and AI settings (IGDM_CONFIG); null runs no automation. */
  automation: AutomationConfig | null;
  ai: AiProvider;
  log: Logger;
  now: () => number;
  /** Where the sends it queues go (send/send-jobs.ts). */
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  handoverAppId: string | null;
  graphTimeoutMs?: number;
  /** Contacts' profiles: asked before a reply that names the contact, when never asked yet. */
  profiles?: { ensure(contactId: string): Promise<void> };
  /** Paces Conversations API calls (story lookups), shared with the sender. */
  conversationsApi: Limiter;
  /** Approvers' answers (src/approvals/): taken before the automation, which never sees them. */
  approvals?: ApprovalAnswers;
  /** The replies it queues, remembered for this process's sender (send/queued-here.ts). */
  queuedHere?: QueuedHere;
}

export interface EngineJob {
  eventId: number;
}

/** What the engine did with one event (kept as the job's result). */
export interface EventOutcome {
  kind: DomainEvent['kind'];
  intent?: string;
  rule?: string;
  /** Outbox rows queued (or found already queued) for this event. */
  queued?: string[];
  /** Replies the policy or the limits refused, with the reason. */
  refused?: { reason: string; message: string }[];
  handover?: Owner;
  tags?: string[];
  ai?: { kind: string; reason?: string; detail?: string };
  /** A rule's webhook queued for delivery (GET /v1/webhook-deliveries?rule=): its X-Igdm-Delivery. */
  webhook?: { delivery: string };
  /** igdm-retry: an earlier attempt of a send igdm made again (its echo came too late). */
  echo?: 'igdm' | 'human' | 'igdm-retry';
  storyMention?: { storyId: string | null; lookup?: string };
  /** Why nothing was sent. */
  silent?: string;
  /** A comment's public reply: the reply's comment id, or that it was made before. */
  publicReply?: string;
  /** An answer to an approval: which, and what came of it. */
  approval?: ApprovalOutcome['approval'];
}

/** How far back a late echo is matched to a retried send. */
const LATE_ECHO_MS = 24 * 60 * 60 * 1000;

/** A reply that names the contact. */
const NAMES = /\{\{\s*(username|name)\s*\}\}/;

/** Waits for a send to settle before deciding whose an echo is. */
const SENDING_RETRY_MS = 200;
const UNCONFIRMED_RETRY_MS = 2000;

export class Engine {
  readonly #d: EngineDeps;

  constructor(deps: EngineDeps) {
    this.#d = deps;
  }

  /** The queue's handler for ENGINE_QUEUE jobs. */
  readonly handle = async (job: Job<EngineJob>): Promise<EventOutcome[]> => {
    // The job's key and time are its event's conversation and timestamp: the conversation is read
    // with the event, in one statement.
    const read = await eventAndConversation(this.#d.db, job.payload.eventId, job.key, job.orderAt);
    const row = read?.row;
    if (!row?.channelId) return [];
    const channel = this.#d.channels().find((c) => c.id === row.channelId);
    if (!channel) return [];
    const outcomes: EventOutcome[] = [];
    const events = normalise(rawEventOf(row));
    for (const event of events) {
      if (!event.igsid || event.igsid === event.accountId) continue;
      const readWith =
        events.length === 1 &&
        event.timestamp === job.orderAt &&
        conversationIdOf(channel.id, event.igsid) === job.key
          ? read?.view
          : undefined;
      outcomes.push(await this.#event(channel, row, event, readWith));
    }
    return outcomes;
  };

  async #event(
    channel: Channel,
    row: StoredEvent,
    event: DomainEvent,
    /** The conversation as read with the event (undefined: read it when needed). */
    view: AutomationView | undefined,
  ): Promise<EventOutcome> {
    const conversationId = conversationIdOf(channel.id, event.igsid!);
    switch (event.kind) {
      case 'echo':
        return this.#echo(channel, conversationId, event);
      case 'handover': {
        const to = ownerAfter(event, this.#d.handoverAppId);
        if (!to) return { kind: event.kind, silent: 'a request for thread control changes nothing' };
        // Meta has moved the thread already: only igdm's record follows.
        await handOver(this.#deps(), channel, conversationId, to, { routing: false });
        return { kind: event.kind, handover: to };
      }
      case 'message':
      case 'postback':
      case 'reaction':
      case 'referral':
        return this.#inbound(channel, row, conversationId, event, view);
      case 'comment':
        return answerComment(
          { ...this.#deps(), jobs: this.#d.jobs, automation: this.#d.automation },
          channel,
          event,
        );
      default:
        return { kind: event.kind };
    }
  }

  #deps() {
    return {
      db: this.#d.db,
      log: this.#d.log,
      now: this.#d.now,
      handoverAppId: this.#d.handoverAppId,
      graphTimeoutMs: this.#d.graphTimeoutMs,
      conversationsApi: this.#d.conversationsApi,
    };
  }

  /**
   * An echo of igdm's own send completes it (the projector merged it). Any other echo is a message a
   * person typed in the Instagram app (or another app sent): a human reply, and the human takes
   * over. While a send to this customer is unsettled, the echo may be its own: wait for it.
   */
  async #echo(channel: Channel, conversationId: string, event: EchoEvent): Promise<EventOutcome> {
    const { db } = this.#d;
    const ours = () => sentByIgdm(db, channel.id, event.mid);
    if (await ours()) return { kind: 'echo', echo: 'igdm' };
    const unsettled = await unsettledSend(db, conversationId);
    if (unsettled) {
      throw new RetryLater(
        unsettled === 'sending' ? SENDING_RETRY_MS : UNCONFIRMED_RETRY_MS,
        'a send to this customer is not settled yet: this echo may be its own',
      );
    }
    // Settled meanwhile (by this very echo, say): its mid tells.
    if (await ours()) return { kind: 'echo', echo: 'igdm' };
    // An echo that comes after its send was settled without it (the send is then made again) is an
    // earlier attempt of igdm's own reply, not a person: the same text as a send igdm attempted.
    if (event.text !== undefined) {
      const retried = await attemptedSend(db, conversationId, event.text, event.timestamp - LATE_ECHO_MS);
      if (retried) {
        await setAuthor(db, messageIdOf(channel.id, event.mid), retried.author, this.#d.now());
        return { kind: 'echo', echo: 'igdm-retry' };
      }
    }
    // A person's reply: `message.sent`, as for igdm's own sends. Known only now, so written here,
    // once however often this job runs (its dedup key).
    const messageId = messageIdOf(channel.id, event.mid);
    await recordEvents(
      db,
      [
        {
          event: 'message.sent',
          channelId: channel.id,
          conversationId,
          data: { messageId, mid: event.mid, conversationId, text: event.text ?? null, author: 'human' },
          dedupKey: `echo|${channel.id}|${event.mid}`,
        },
      ],
      this.#d.now(),
    );
    const moved = await handOver(this.#deps(), channel, conversationId, 'human');
    return { kind: 'echo', echo: 'human', ...(moved.changed && { handover: 'human' as const }) };
  }

  async #inbound(
    channel: Channel,
    row: StoredEvent,
    conversationId: string,
    event: Extract<DomainEvent, { kind: 'message' | 'postback' | 'reaction' | 'referral' }>,
    read: AutomationView | undefined,
  ): Promise<EventOutcome> {
    const { db } = this.#d;
    // The conversation read with the event serves unless something slow came between (a story's
    // lookup, an LLM's intent): an agent may have taken it over meanwhile.
    let view = read;
    if (this.#d.approvals && (event.kind === 'message' || event.kind === 'postback')) {
      const answered = await this.#d.approvals.answer(channel, row, conversationId, event);
      if (answered) return { kind: event.kind, ...answered };
    }
    const out: EventOutcome = { kind: event.kind };
    const text = event.kind === 'message' ? event.text : undefined;
    // A mention is thanked once per story, however often it is mentioned: the story is the cause.
    let cause = row.dedupKey;
    if (event.kind === 'message' && event.attachments.some((a) => a.type === 'story_mention')) {
      view = undefined;
      const mention = await recordStoryMention(this.#deps(), channel, conversationId, event);
      out.storyMention = { storyId: mention.storyId, ...(mention.lookup && { lookup: mention.lookup }) };
      cause = `story:${channel.id}:${mention.storyKey}`;
    }
    if (text?.trim()) {
      if (this.#d.automation?.ai.intent === 'llm') view = undefined;
      out.intent = await this.#classify(text);
    }
    const conversation = view ?? (await automationView(db, conversationId, event.timestamp));
    if (!conversation) return { ...out, silent: 'no such conversation' };
    // Most messages keep the intent: no write for those.
    if (out.intent && out.intent !== conversation.intent) await setIntent(db, conversationId, out.intent);
    if (event.standby) {
      // Delivered as standby: another app owns the thread at Meta; igdm only listens.
      await handOver(this.#deps(), channel, conversationId, 'human', { routing: false });
      return { ...out, silent: 'standby: another app owns the thread' };
    }
    if (conversation.threadOwner !== 'bot') return { ...out, silent: 'a human owns the conversation' };
    // A message igdm missed and read back later (src/backfill/): the customer wrote a while ago, so
    // an automated answer now would be out of place (and, past the window, refused by Meta).
    if (row.backfilled === 1 && this.#d.now() - event.timestamp > BACKFILLED_REPLY_MAX_AGE_MS)
      return { ...out, silent: 'backfilled: too old for an automated reply' };
    const automation = this.#d.automation;
    if (!automation) return { ...out, silent: 'no automation configured (IGDM_CONFIG)' };

    const firstMessage = isFirstMessage(event, conversation);
    const match = matchRule(automation, {
      event,
      ...(out.intent && { intent: out.intent }),
      firstMessage,
      contact: { username: conversation.username, name: conversation.name },
    });
    if (
      match?.rule.reply &&
      conversation.profileCheckedAt === null &&
      NAMES.test(JSON.stringify(match.rule.reply))
    ) {
      // A first message races the profile lookup: the reply waits for the name it uses.
      await this.#d.profiles?.ensure(conversation.contactId);
      Object.assign(conversation, await contactName(db, conversation.contactId));
    }
    const vars: ReplyVars = {
      username: conversation.username ?? '',
      name: conversation.name ?? '',
      text: text ?? '',
    };
    const send = (content: Content, name: string) =>
      this.#send(channel, event.igsid!, content, `${cause}#${name}`, out);

    if (!match) {
      if (automation.ai.provider === 'none' || !text?.trim()) return { ...out, silent: 'no rule matched' };
      await this.#askAi(channel, conversationId, event, out, (c) => send(c, 'ai'));
      return out;
    }
    const rule: Rule = match.rule;
    out.rule = rule.name;
    if (rule.tag) out.tags = await addTags(db, conversationId, rule.tag, this.#d.now());
    if (rule.reply) {
      let content: Content | null = null;
      try {
        content = renderReply(rule.reply, vars);
      } catch (err) {
        if (!(err instanceof SendValidationError)) throw err;
        refuse(out, 'invalid_content', err.message);
      }
      if (content) await send(content, rule.name);
    }
    if (rule.ai) await this.#askAi(channel, conversationId, event, out, (c) => send(c, `${rule.name}:ai`));
    if (rule.webhook) {
      const delivery = `${cause}#${rule.name}`;
      await queueRuleWebhook(db, this.#d.jobs, rule.webhook.url, {
        delivery,
        rule: rule.name,
        channelId: channel.id,
        conversationId,
        event,
        intent: out.intent ?? null,
      });
      out.webhook = { delivery };
    }
    if (rule.handover) {
      await handOver(this.#deps(), channel, conversationId, 'human');
      out.handover = 'human';
    }
    return out;
  }

  async #classify(text: string): Promise<string> {
    const settings = this.#d.automation?.ai;
    if (settings?.intent === 'llm') {
      return (await classifyWithFallback(this.#d.ai, text, settings.timeoutMs)).intent;
    }
    return classifyIntent(text).intent;
  }

  /** Queues one reply (once per cause); a refusal by the policy is recorded, not retried. */
  async #send(channel: Channel, igsid: string, content: Content, causedBy: string, out: EventOutcome) {
    try {
      const q = await queueSend(
        this.#d.db,
        this.#d.jobs,
        channel,
        { to: igsid, content, causedBy, author: 'bot' },
        this.#d.now(),
        this.#d.queuedHere,
      );
      out.queued = [...(out.queued ?? []), q.messageId ?? q.outboxId];
    } catch (err) {
      if (err instanceof PolicyError || err instanceof SendValidationError) {
        const reason = err instanceof PolicyError ? err.reason : 'invalid_content';
        refuse(out, reason, err.message);
        this.#d.log.warn({ causedBy, reason }, 'automation reply refused');
        return;
      }
      throw err;
    }
  }

  /** The AI's reply with the conversation as context, or the configured fallback (text or human). */
  async #askAi(
    channel: Channel,
    conversationId: string,
    event: DomainEvent,
    out: EventOutcome,
    send: (c: Content) => Promise<void>,
  ) {
    const settings = this.#d.automation!.ai;
    const turns = await this.#turns(conversationId, event.timestamp);
    const draft = await draftWithFallback(this.#d.ai, settings, { turns });
    if (draft.kind === 'reply') {
      out.ai = { kind: 'reply' };
      await send({ type: 'text', text: draft.text });
      return;
    }
    out.ai = { kind: draft.kind, reason: draft.reason, detail: draft.detail };
    this.#d.log.warn({ conversation: conversationId, ...out.ai }, 'AI reply fell back');
    if (draft.kind === 'text') await send({ type: 'text', text: draft.text });
    else {
      await handOver(this.#deps(), channel, conversationId, 'human');
      out.handover = 'human';
    }
  }

  /** The conversation up to the event, oldest first, as the AI sees it (the last turns only). The
   * customer's later messages are left out (their own jobs answer them); the business's replies are
   * all in, so that in a burst the answer to one message is context for the next. */
  async #turns(conversationId: string, upTo: number): Promise<AiTurn[]> {
    const rows = await lastTurns(this.#d.db, conversationId, upTo, CONTEXT_TURNS);
    return rows.map((m) => ({
      role: m.direction === 'inbound' ? 'customer' : 'business',
      text: m.text ?? `[${m.type}]`,
    }));
  }
}

function refuse(out: EventOutcome, reason: string, message: string) {
  out.refused = [...(out.refused ?? []), { reason, message }];
}

/** The customer's first message to the account: nothing inbound before it. */
const isFirstMessage = (event: DomainEvent, conversation: AutomationView): boolean =>
  (event.kind === 'message' || event.kind === 'postback') && !conversation.wroteBefore;
