import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebhookWriter } from '../ingest/writer.ts';
import type { Logger } from '../log.ts';
import { sameSecret, verifySignature } from '../meta/signature.ts';
import type { Metrics } from '../metrics.ts';
import type { Channel } from '../store/channels.ts';
import { errors } from './errors.ts';

// The webhook endpoints Meta calls: the GET handshake and signed POST deliveries. A delivery is
// answered 200 only once its events are on disk; anything unsigned is refused and nothing is kept.

export const WEBHOOK_BODY_LIMIT = 1024 * 1024;
const KNOWN_OBJECTS = new Set(['instagram', 'page', 'whatsapp_business_account']);

export interface WebhookDeps {
  channels: () => readonly Channel[];
  writer: WebhookWriter;
  log: Logger;
  metrics: Metrics;
}

type Params = { channelId?: string };
type Req = FastifyRequest<{ Params: Params; Querystring: Record<string, string | string[] | undefined> }>;

export async function webhookRoutes(app: FastifyInstance, deps: WebhookDeps) {
  // Signatures are over the raw bytes: take every body as a Buffer, whatever its content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );

  // Every delivery counted, refusals by their error code (a body too large never reaches the handler).
  const refusals = new WeakMap<FastifyRequest, string>();
  app.addHook('onError', async (req, _reply, err) => {
    refusals.set(req, (err as { code?: string }).code ?? 'internal_error');
  });
  app.addHook('onResponse', async (req, reply) => {
    if (req.method !== 'POST') return;
    deps.metrics.webhooksReceived.inc();
    if (reply.statusCode === 200) deps.metrics.ingestSeconds.observe(reply.elapsedTime / 1000);
    else deps.metrics.webhooksRefused.inc({ reason: refusals.get(req) ?? `http_${reply.statusCode}` });
  });

  /** The channels a request may belong to: the one in the URL, or all of them. */
  const candidates = (req: Req): readonly Channel[] | null => {
    const id = req.params.channelId;
    if (id === undefined) return deps.channels();
    const channel = deps.channels().find((c) => c.id === id);
    return channel ? [channel] : null;
  };

  const handshake = async (req: Req, reply: FastifyReply) => {
    const channels = candidates(req);
    if (!channels) throw errors.channelNotFound(req.params.channelId!);
    const q = req.query;
    const token = q['hub.verify_token'];
    const challenge = q['hub.challenge'];
    const ok =
      q['hub.mode'] === 'subscribe' &&
      typeof token === 'string' &&
      typeof challenge === 'string' &&
      channels.some((c) => c.verifyToken !== '' && sameSecret(c.verifyToken, token));
    if (!ok) throw errors.verificationFailed();
    return reply.code(200).type('text/plain').send(challenge);
  };

  const receive = async (req: Req, reply: FastifyReply) => {
    const channels = candidates(req);
    if (!channels) throw errors.channelNotFound(req.params.channelId!);
    // No body at all (no content-type, no length) is verified as the empty body it is.
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const sha256 = header(req, 'x-hub-signature-256');
    const sha1 = header(req, 'x-hub-signature');
    const sha1Channels = channels.filter((c) => c.allowSha1);
    if (!sha256 && !(sha1 && sha1Channels.length)) throw errors.signatureMissing();
    const verifiedBy = sha256
      ? signedBy(channels, (secret) => verifySignature(body, sha256, secret, 'sha256'))
      : signedBy(sha1Channels, (secret) => verifySignature(body, sha1, secret, 'sha1'));
    if (verifiedBy.length === 0) throw errors.signatureInvalid();
    // Decoding would turn every invalid byte into U+FFFD, so events that differ only there would
    // share a dedup key and all but one be dropped. Meta escapes every non-ASCII character: its
    // bodies are ASCII, so this refuses nothing it sends.
    if (!isUtf8(body)) throw errors.invalidUtf8();

    const result = await deps.writer.write({
      body: body.toString('utf8'),
      channelId: req.params.channelId ?? null,
      verifiedBy: verifiedBy.map((c) => c.id),
      receivedAt: Date.now(),
    });
    if (result.status === 'malformed') throw errors.malformedJson(result.reason);
    if (result.status === 'failed') {
      // Not stored: Meta must deliver it again, so do not acknowledge.
      deps.log.error({ reason: result.reason }, 'webhook not stored');
      throw errors.storeUnavailable();
    }
    for (const object of result.objects) {
      if (!KNOWN_OBJECTS.has(object)) deps.log.warn({ object }, 'webhook for an unknown object stored raw');
    }
    return reply.code(200).type('text/plain').send('EVENT_RECEIVED');
  };

  for (const path of ['/webhooks/meta', '/webhooks/instagram/:channelId']) {
    app.get(path, handshake);
    app.post(path, receive);
  }
}

/** The channels whose secret verifies the signature: one HMAC per distinct secret (many accounts share an app). */
function signedBy(channels: readonly Channel[], verify: (secret: string) => boolean): Channel[] {
  const verdicts = new Map<string, boolean>();
  return channels.filter((c) => {
    if (!verdicts.has(c.appSecret)) verdicts.set(c.appSecret, verify(c.appSecret));
    return verdicts.get(c.appSecret) === true;
  });
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
