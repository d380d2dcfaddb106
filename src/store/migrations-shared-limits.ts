import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';

// The migration of the limits shared across processes on PostgreSQL (0025; docs/postgres.md, "Shared
// limits"): each call's place in its account's rate windows (graph/shared-rate-limit.ts), and each
// channel's hold and circuit breaker (send/shared-holds.ts). On SQLite (one process: its limiter and
// holds stay in memory) the tables stay empty; they exist so that both schemas have the same tables
// (igdm migrate-store, test/store/postgres-migrate.test.ts).

/** The advisory lock namespace of an account's rate windows: 'igdm' as an int4 (store/mid-lock.ts). */
export const RATE_LOCK_NAMESPACE = 0x6967646e;

export const sharedLimitsMigrations = (kind: StoreKind): Record<string, Migration> => ({
  '0025_shared_limits': {
    async up(db: Kysely<unknown>) {
      // One row per call and window: counted from `at` once answered (expires_at null), or in flight
      // until expires_at (a process that died mid-call leaves its place until then).
      await db.schema
        .createTable('rate_places')
        .addColumn('place', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addPrimaryKeyConstraint('rate_places_pk', ['place', 'key'])
        .execute();
      await db.schema.createIndex('rate_places_window').on('rate_places').columns(['key', 'at']).execute();
      await db.schema
        .createTable('channel_holds')
        .addColumn('channel_id', 'text', (c) => c.primaryKey())
        .addColumn('hold_until', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('failures_in_row', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      if (kind === 'sqlite') return;
      await sql.raw(TAKE_FUNCTION).execute(db);
    },
  },
});

/**
 * One round trip per call: under the account's transaction-level advisory lock (every process
 * counting that account's windows waits for it), drops what has left each window, counts what is
 * in it (answered calls, and calls in flight as if sent now), and takes a place in every window if
 * the call fits all of them. Returns 0 (taken) or the milliseconds until it would fit (nothing
 * taken), by the rules of graph/rate-limit.ts's RateLimiter.wait(). `p_now` null: the database's
 * clock (every process reads the same one).
 */
const TAKE_FUNCTION = `
create function igdm_rate_take(
  p_account text, p_place text, p_keys text[], p_limits integer[], p_periods bigint[],
  p_now bigint, p_in_flight_ms bigint
) returns bigint language plpgsql as $$
declare
  v_now bigint := coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint);
  v_wait bigint := 0;
  v_hits integer;
  v_flying integer;
  v_over integer;
  v_at bigint;
begin
  perform pg_advisory_xact_lock(${RATE_LOCK_NAMESPACE}, hashtext(p_account));
  for i in 1 .. array_length(p_keys, 1) loop
    delete from rate_places
      where key = p_keys[i]
        and (case when expires_at is null then at <= v_now - p_periods[i] else expires_at <= v_now end);
    select count(*) filter (where expires_at is null), count(*) filter (where expires_at is not null)
      into v_hits, v_flying from rate_places where key = p_keys[i];
    v_over := v_hits + v_flying - p_limits[i];
    if v_over >= 0 then
      if v_over < v_hits then
        select at into v_at from rate_places
          where key = p_keys[i] and expires_at is null order by at offset v_over limit 1;
        v_wait := greatest(v_wait, v_at + p_periods[i] - v_now);
      else
        v_wait := greatest(v_wait, p_periods[i]);
      end if;
    end if;
  end loop;
  if v_wait = 0 then
    insert into rate_places (place, key, at, expires_at)
      select p_place, k, v_now, v_now + p_in_flight_ms from unnest(p_keys) as k;
  end if;
  return v_wait;
end
$$`;
