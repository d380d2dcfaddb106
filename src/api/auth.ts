import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { hashApiKey } from './api-key.ts';
import { errors, replyError } from './errors.ts';

// Every /v1 route needs `Authorization: Bearer <IGDM_API_KEY>`. Only the key's hash is kept.

export function requireApiKey(app: FastifyInstance, keyHash: Buffer) {
  app.addHook('onRequest', async (req, reply) => {
    const auth = req.headers.authorization;
    const given = auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : null;
    // Replied, not thrown: the hook also guards plugins with an error handler of their own (the sandbox).
    if (!given || !timingSafeEqual(hashApiKey(given), keyHash))
      return replyError(reply, errors.unauthorized());
  });
}
