import type { FastifyReply } from 'fastify';

/** Every error answer has one shape: { "error": { "code", "message" } }. */
export function replyError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}
