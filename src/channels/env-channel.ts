import { isDeepStrictEqual } from 'node:util';
import { type ApiFields, CHANNEL_FIELDS, type Channel, type ChannelField } from '../store/channels.ts';

// The environment's `default` channel can be changed through the API too. A field set through the
// API wins over the environment's value until that value changes: the store keeps, with each such
// field, what the environment said when it was set, and each start compares.

/**
 * The channel to run at start: the environment's, with the fields set through the API whose
 * environment value is unchanged since; and the API fields that still hold.
 */
export function withEnvironment(
  env: Channel,
  stored: { channel: Channel; apiFields: ApiFields | null } | undefined,
): { channel: Channel; apiFields: ApiFields } {
  const channel: Channel = { ...env };
  const apiFields: ApiFields = {};
  for (const field of CHANNEL_FIELDS) {
    const set = stored?.apiFields?.[field];
    if (set && isDeepStrictEqual(set.env, env[field])) {
      assign(channel, field, stored!.channel[field]);
      apiFields[field] = set;
    }
  }
  return { channel, apiFields };
}

/**
 * The API fields after a change through the API from `before` to `after`: each field that changed
 * records the environment's value, which is the value before unless the API had already set it.
 */
export function setThroughApi(before: Channel, after: Channel, apiFields: ApiFields): ApiFields {
  const next: ApiFields = { ...apiFields };
  for (const field of CHANNEL_FIELDS) {
    if (!isDeepStrictEqual(before[field], after[field])) next[field] ??= { env: before[field] };
  }
  return next;
}

function assign<F extends ChannelField>(c: Channel, field: F, value: Channel[ChannelField]) {
  c[field] = value as Channel[F];
}
