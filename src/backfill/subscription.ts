import { type GraphClient, GraphError } from '../graph/client.ts';

// Whether the app still gets the account's webhooks: Meta disables a subscription whose deliveries
// keep failing (an hour of failures), and then nothing comes until it is made again (`igdm doctor
// --fix`). Read with GET /{account}/subscribed_apps (Instagram Login and Page tokens alike): the
// app's entry, with `messages` among its fields, means active.

export interface SubscriptionStatus {
  /** active: subscribed to messages; inactive: not (nothing will be delivered); unknown: could not ask. */
  state: 'active' | 'inactive' | 'unknown';
  fields: string[];
  checkedAt: number;
  /** Why it is unknown (Meta's reason), or what to do when inactive. */
  detail: string | null;
}

/** Field names of GET subscribed_apps: data[].subscribed_fields, as strings or {name}. */
function fieldsOf(body: unknown): string[] {
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) return [];
  return data.flatMap((app) => {
    const f = (app as { subscribed_fields?: unknown })?.subscribed_fields;
    if (!Array.isArray(f)) return [];
    return f.flatMap((x) =>
      typeof x === 'string' ? [x] : typeof x?.name === 'string' ? [x.name as string] : [],
    );
  });
}

export async function checkSubscription(client: GraphClient, now: number): Promise<SubscriptionStatus> {
  try {
    const fields = fieldsOf(await client.subscriptions());
    return fields.includes('messages')
      ? { state: 'active', fields, checkedAt: now, detail: null }
      : {
          state: 'inactive',
          fields,
          checkedAt: now,
          detail: 'the app is not subscribed to messages: run `igdm doctor --fix`',
        };
  } catch (err) {
    if (!(err instanceof GraphError)) throw err;
    return {
      state: 'unknown',
      fields: [],
      checkedAt: now,
      detail: `${err.failure.reason}: ${err.failure.message}`,
    };
  }
}
