import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GraphClient, GraphError } from '../graph/client.ts';
import { type Channel, publicChannel } from '../store/channels.ts';
import type { ChannelHealth } from '../store/schema.ts';
import { errors } from './errors.ts';

// Channels as the API shows them (never their secrets), with their health: ok, throttled,
// needs_token (Meta refused the token: set a new one and restart) or paused (blocked for policy).

const IceBreakers = z.strictObject({
  iceBreakers: z
    .array(
      z.strictObject({ question: z.string().trim().min(1).max(80), payload: z.string().min(1).max(1000) }),
    )
    .max(4, 'Instagram shows at most 4 ice breakers'),
});

export async function channelRoutes(
  app: FastifyInstance,
  channels: () => readonly Channel[],
  health: (channelId: string) => ChannelHealth,
) {
  const find = (id: string) => {
    const channel = channels().find((c) => c.id === id);
    if (!channel) throw errors.channelNotFound(id);
    return channel;
  };
  const shown = (c: Channel) => publicChannel(c, health(c.id));

  app.get('/v1/channels', async () => ({ data: channels().map(shown) }));

  app.get<{ Params: { id: string } }>('/v1/channels/:id', async (req) => shown(find(req.params.id)));

  app.put<{ Params: { id: string } }>('/v1/channels/:id/ice-breakers', async (req) => {
    const channel = find(req.params.id);
    const parsed = IceBreakers.safeParse(req.body);
    if (!parsed.success) throw errors.invalidIceBreakers(z.prettifyError(parsed.error));
    const client = new GraphClient(channel);
    try {
      if (parsed.data.iceBreakers.length === 0) await client.deleteIceBreakers();
      else await client.setIceBreakers(parsed.data.iceBreakers);
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      throw errors.iceBreakersRefused(err.failure.reason, err.failure.message);
    }
    return { iceBreakers: parsed.data.iceBreakers };
  });
}
