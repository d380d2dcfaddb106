import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GraphClient, GraphError } from '../graph/client.ts';
import {
  MAX_UPLOAD_BYTES,
  mediaTypeOf,
  UPLOAD_FORMATS,
  UPLOAD_TYPES,
  type UploadType,
} from '../meta/uploads.ts';
import type { Channel } from '../store/channels.ts';
import { sees } from './auth.ts';
import { type ApiError, errors } from './errors.ts';

// POST /v1/attachments: a file's bytes as the raw body (its Content-Type the file's MIME type),
// uploaded to Meta's Attachment Upload API for one channel (graph/client.ts); the attachment id it
// answers is then sent by POST /v1/messages (`{"type": "image", "image": {"attachmentId"}}`). The
// query, the channel, the type and the declared length are checked before a byte of the body is
// read, and no more than Meta's cap for the type is ever held: past it the answer is 413.

const UploadQuery = z.object({
  channelId: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Default: the only channel the key sees, else `default`.' }),
  type: z.enum(UPLOAD_TYPES),
  filename: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^\u0000-\u001f\u007f/\\]+$/, 'a file name, without "/", "\\" or control characters')
    .optional()
    .meta({ description: 'The name the customer sees (a file); default: the type.' }),
});

const Uploaded = z
  .object({
    attachmentId: z.string().meta({ description: 'Send it as `content.<type>.attachmentId`.' }),
    type: z.enum(UPLOAD_TYPES),
    size: z.number().int().meta({ description: 'Bytes uploaded.' }),
  })
  .meta({ id: 'UploadedAttachment' });

/** The body as the route gets it; documented as the file's bytes. */
const FileBytes = z
  .custom<Buffer>((b) => Buffer.isBuffer(b) && b.length > 0, {
    message: "the body is empty: it is the file's bytes",
  })
  .meta({ type: 'string', format: 'binary', description: "The file's bytes; Content-Type its MIME type." });

/** What an upload is, as its query and headers say (checked before its body is read). */
interface Upload {
  channel: Channel;
  type: UploadType;
  contentType: string;
  filename: string;
  cap: number;
}

const tooLarge = (type: UploadType, cap: number) =>
  errors.bodyTooLarge(`An upload of type ${type} is at most ${cap} bytes (Meta's limit)`);

export interface AttachmentDeps {
  channels: () => readonly Channel[];
  /** How long Meta may take to answer an upload. */
  timeoutMs: number;
}

/** Registered in a scope of its own: its content-type parser takes every body as bytes. */
export async function attachmentRoutes(scope: FastifyInstance, deps: AttachmentDeps) {
  const uploads = new WeakMap<FastifyRequest, Upload>();

  /** The channel: the one named, else the only one the key sees, else `default`. */
  const channelFor = (req: FastifyRequest, id: string | undefined): Channel => {
    const visible = deps.channels().filter((c) => sees(req, c.id));
    if (id !== undefined) {
      const named = visible.find((c) => c.id === id);
      if (!named) throw errors.channelNotFound(id);
      return named;
    }
    const only = visible.length === 1 ? visible[0] : visible.find((c) => c.id === 'default');
    if (only) return only;
    if (visible.length === 0) throw errors.channelNotFound('default');
    throw errors.invalidQuery(
      `name the channel (channelId): this key sees several (${visible.map((c) => c.id).join(', ')})`,
    );
  };

  const plan = (req: FastifyRequest): Upload => {
    const query = UploadQuery.safeParse(req.query);
    if (!query.success) throw errors.invalidQuery(z.prettifyError(query.error));
    const { type, channelId, filename } = query.data;
    const channel = channelFor(req, channelId);
    const contentType = mediaTypeOf(req.headers['content-type'] ?? '') || 'application/octet-stream';
    // Meta checks the exact format; a file of another kind altogether is refused here.
    if (type !== 'file' && !contentType.startsWith(`${type}/`))
      throw errors.invalidRequest(
        `Content-Type must be the file's MIME type, an ${type}'s (${UPLOAD_FORMATS[type].join(', ')}), not ${contentType}`,
      );
    const cap = MAX_UPLOAD_BYTES[type];
    if (Number(req.headers['content-length']) > cap) throw tooLarge(type, cap);
    return { channel, type, contentType, filename: filename ?? defaultName(type, contentType), cap };
  };

  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (req, payload, done) => {
    const upload = uploads.get(req);
    if (!upload) return done(errors.invalidRequest('no upload'), undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: ApiError | null, body?: Buffer) => {
      if (settled) return;
      settled = true;
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      done(err, body);
    };
    // Past the cap, what is held is dropped, and the rest of the body is read and discarded.
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > upload.cap) return finish(tooLarge(upload.type, upload.cap));
      chunks.push(chunk);
    };
    const onEnd = () => finish(null, Buffer.concat(chunks, size));
    const onError = () => finish(errors.invalidRequest('The body did not arrive whole'));
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  });

  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/v1/attachments',
    {
      preParsing: async (req, _reply, payload) => {
        uploads.set(req, plan(req));
        return payload;
      },
      schema: {
        querystring: UploadQuery,
        body: FileBytes,
        consumes: ['application/octet-stream', 'image/*', 'video/*', 'audio/*', 'application/pdf'],
        response: { 201: Uploaded },
        description:
          "Uploads a file (the raw body) to Meta's Attachment Upload API; send the attachmentId with POST /v1/messages. " +
          'At most 8 MB for an image, 25 MB for video, audio or a file (413 body_too_large beyond).',
      },
    },
    async (req, reply) => {
      const upload = uploads.get(req)!;
      const bytes = req.body;
      const client = new GraphClient(upload.channel);
      let attachmentId: string;
      try {
        attachmentId = await client.uploadAttachmentFile(
          { type: upload.type, bytes, contentType: upload.contentType, filename: upload.filename },
          { timeoutMs: deps.timeoutMs },
        );
      } catch (err) {
        if (!(err instanceof GraphError)) throw err;
        throw errors.uploadRefused(err.failure.reason, err.failure.message);
      }
      return reply.code(201).send({ attachmentId, type: upload.type, size: bytes.length });
    },
  );
}

/** `image.png`, `file.pdf` ...: the type, and the MIME subtype when it is a plain word. */
function defaultName(type: UploadType, contentType: string): string {
  const subtype = contentType.split('/')[1] ?? '';
  return /^[a-z0-9]{1,10}$/.test(subtype) ? `${type}.${subtype}` : type;
}
