// @igdm/sdk: a client for igdm's REST API (fetch-based, no dependencies) and verifyWebhook for
// receivers of igdm's signed webhooks.

export type { ApiKeys, NewApiKeyRequest } from './api-keys.ts';
export {
  type Approval,
  type ApprovalCallback,
  type ApprovalCreated,
  type ApprovalDecision,
  type ApprovalField,
  type ApprovalFilter,
  type ApprovalStatus,
  type Approvals,
  ApprovalTimeoutError,
  type FieldDisplay,
  type NewApproval,
  type WaitOptions,
} from './approvals.ts';
export type { Attachments, UploadRequest } from './attachments.ts';
export type { ChannelChange, Channels, IceBreakerSettings, Instagram, NewChannel } from './channels.ts';
export { Igdm } from './client.ts';
export type { CommentFilter, Comments } from './comments.ts';
export type { ContactFilter, Contacts } from './contacts.ts';
export type * from './content.ts';
export type {
  ConversationChange,
  ConversationFilter,
  Conversations,
  MessageListOptions,
  PageOptions,
} from './conversations.ts';
export { type ContentIssue, IgdmError } from './errors.ts';
export type { Events, SubscribeOptions, Subscription } from './events.ts';
export type { JobFilter, Jobs } from './jobs.ts';
export type { Media } from './media.ts';
export type { Messages, SendRequest, SendResult } from './messages.ts';
export type * from './sandbox.ts';
export type { NewSavedReply, SavedReplies } from './saved-replies.ts';
export type { Fetch, TransportOptions as IgdmOptions } from './transport.ts';
export type * from './types.ts';
export {
  type VerifyOptions,
  verifyWebhook,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookFailure,
  type WebhookHeaders,
  WebhookVerificationError,
} from './webhook.ts';
export type {
  AllDeliveriesFilter,
  DeliveryFilter,
  NewWebhookEndpoint,
  WebhookEndpointChange,
  WebhookEndpoints,
} from './webhook-endpoints.ts';
export type { WebhookEventFilter, WebhookEvents } from './webhook-events.ts';
