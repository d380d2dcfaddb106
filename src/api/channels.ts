import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GraphClient, GraphError } from '../graph/client.ts';
import { type Channel, publicChannel } from '../store/channels.ts';
import type { ChannelHealth } from '../store/schema.ts';
import { errors } from './errors.ts';
import { Channel as ChannelView } from './schemas.ts';

// Channels as the API shows them (never their secrets), with their health: ok, throttled,
// needs_token (Meta refused the token: set a new one and restart) or paused (blocked for policy).

const IceBreakers = z.strictObject({
  iceBreakers: z
    .array(
      z.strictObject({ question: z.string().trim().min(1).max(80), payload: z.string().min(1).max(1000) }),
    )
    .max(4, 'Instagram shows at most 4 ice breakers'),
});
const Params = z.object({ id: z.string() });

export async function channelRoutes(
  scope: FastifyInstance,
  channels: () => readonly Channel[],
  health: (channelId: string) => ChannelHealth,
) {
  const find = (id: string) => {
    const channel = channels().find((c) => c.id === id);
    if (!channel) throw errors.channelNotFound(id);
    return channel;
  };
  const shown = (c: Channel) => publicChannel(c, health(c.id));
  const app = scope.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/channels',
    { schema: { response: { 200: z.object({ data: z.array(ChannelView) }) } } },
    async () => ({
      data: channels().map(shown),
    }),
  );

  app.get('/v1/channels/:id', { schema: { params: Params, response: { 200: ChannelView } } }, async (req) =>
    shown(find(req.params.id)),
  );

  app.put(
    '/v1/channels/:id/ice-breakers',
    {
      // Refused ice breakers are well-formed JSON that Instagram would not take: 422.
      config: { invalidInput: errors.invalidIceBreakers },
      schema: { params: Params, body: IceBreakers, response: { 200: IceBreakers } },
    },
    async (req) => {
      const channel = find(req.params.id);
      const { iceBreakers } = req.body;
      const client = new GraphClient(channel);
      try {
        if (iceBreakers.length === 0) await client.deleteIceBreakers();
        else await client.setIceBreakers(iceBreakers);
      } catch (err) {
        if (!(err instanceof GraphError)) throw err;
        throw errors.iceBreakersRefused(err.failure.reason, err.failure.message);
      }
      return { iceBreakers };
    },
  );
}
