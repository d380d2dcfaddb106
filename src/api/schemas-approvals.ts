import { z } from 'zod';
import { Page } from './pages.ts';

// The approvals' wire shapes (api/approvals.ts): the request that asks for one, the Approval the
// API, the event stream and webhook endpoints show, and the list's query.

const time = z.string().meta({ format: 'date-time' });
const Display = z.enum(['visible', 'masked', 'concealed']);
const Status = z.enum(['pending', 'approved', 'rejected', 'expired', 'cancelled']);

/** Meta's window is 24 hours, but an approval may wait longer: a tap re-opens the window. */
const MAX_EXPIRY_SECONDS = 30 * 24 * 3600;
const MAX_METADATA_BYTES = 16 * 1024;

const Field = z.strictObject({
  label: z.string().trim().min(1).max(100),
  value: z
    .union([z.string().max(10_000), z.number(), z.boolean()])
    .nullable()
    .optional()
    .transform((v) => (v === null || v === undefined ? null : String(v)))
    .meta({
      description:
        'Shown as it is (visible; null shows as "—"), as •••••••• (masked: kept encrypted, shown to admin keys ' +
        'only), or not at all (concealed: never stored, never shown).',
    }),
  display: Display.default('visible'),
});

export const NewApproval = z
  .strictObject({
    channelId: z.string().min(1).default('default'),
    approver: z.string().regex(/^\d+$/, "must be the approver's IGSID (digits)").meta({
      description: 'Who answers: an IGSID that has written to the channel within the last 24 hours.',
    }),
    title: z.string().trim().min(1).max(300),
    fields: z.array(Field).max(50).default([]),
    callbackUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional()
      .meta({ description: 'Gets the decision as a signed POST (Standard Webhooks), retried for 24 hours.' }),
    callbackSecret: z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/]{24,}={0,2}$/, 'must be "whsec_" followed by at least 18 bytes in base64')
      .optional()
      .meta({
        description:
          'Signs the callback. Without it igdm makes one and answers it once, as `callbackSecret`.',
      }),
    expiresInSeconds: z.number().int().min(60).max(MAX_EXPIRY_SECONDS),
    metadata: z
      .record(z.string(), z.unknown())
      .default({})
      .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, {
        message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
      })
      .meta({ description: 'Your own: given back on the approval, its events and its callback.' }),
  })
  .refine((a) => a.callbackSecret === undefined || a.callbackUrl !== undefined, {
    message: 'callbackSecret signs the callback: give callbackUrl too',
    path: ['callbackSecret'],
  });

export const Approval = z
  .object({
    id: z.string().meta({ description: 'apr_…' }),
    channelId: z.string(),
    conversationId: z.string(),
    approver: z.string().meta({ description: "The approver's IGSID." }),
    title: z.string(),
    fields: z.array(
      z.object({
        label: z.string(),
        display: Display,
        value: z.string().nullable().meta({
          description: 'null for concealed fields, and for masked ones unless the key is an admin key.',
        }),
      }),
    ),
    status: Status,
    approved: z.boolean().nullable(),
    respondedBy: z.string().nullable().meta({ description: 'The IGSID whose answer decided it.' }),
    respondedAt: time.nullable(),
    decidedAt: time.nullable(),
    expiresAt: time,
    createdAt: time,
    metadata: z.record(z.string(), z.unknown()),
    callbackUrl: z.string().nullable(),
    callback: z
      .object({
        deliveryId: z.string().meta({ description: 'GET /v1/webhook-deliveries/{id} has its attempts.' }),
        status: z.enum(['pending', 'delivered', 'failed']),
        attempts: z.number().int(),
        lastError: z.string().nullable(),
      })
      .nullable()
      .meta({
        description: 'The decision sent to callbackUrl; null until decided, or without a callbackUrl.',
      }),
    messageId: z.string().nullable().meta({ description: 'The approval DM in the thread.' }),
    shortened: z.array(z.string()).meta({
      description: 'What was cut short to fit the DM in 1000 bytes: "title" or a field\'s label.',
    }),
  })
  .meta({ id: 'Approval' });

export const ApprovalCreated = Approval.extend({
  callbackSecret: z
    .string()
    .optional()
    .meta({ description: 'The `whsec_…` secret igdm made to sign the callback: shown this once.' }),
}).meta({ id: 'ApprovalCreated' });

export const ApprovalQuery = Page.extend({
  status: Status.optional(),
  channelId: z.string().optional(),
  conversationId: z.string().optional(),
});
