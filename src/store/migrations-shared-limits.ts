import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';

// The migration of the limits shared across processes on PostgreSQL (0025; docs/postgres.md, "Shared
// limits"): the calls in each of an account's rate windows (graph/shared-rate-limit.ts), and each
// channel's hold and circuit breaker (send/shared-holds.ts). On SQLite (one process: its limiter and
// holds stay in memory) the tables stay empty; they exist so that both schemas have the same tables
// (igdm migrate-store, test/store/postgres-migrate.test.ts).

/** The advisory lock namespace of an account's rate windows: 'igdm' as an int4 (store/mid-lock.ts). */
export const RATE_LOCK_NAMESPACE = 0x6967646e;

export const sharedLimitsMigrations = (kind: StoreKind): Record<string, Migration> => ({
  '0025_shared_limits': {
    async up(db: Kysely<unknown>) {
      // One row per rate window (an account's, or an account's and a recipient's): the times of the
      // answered calls still in it, and the calls in flight with when each expires (a process that
      // died mid-call leaves its place until then). PostgreSQL arrays in their text form, so that the
      // column is text on both stores; one row updated in place per call (no index on what changes).
      await db.schema
        .createTable('rate_windows')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('hits', 'text', (c) => c.notNull())
        .addColumn('flying', 'text', (c) => c.notNull())
        .addColumn('flying_until', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('channel_holds')
        .addColumn('channel_id', 'text', (c) => c.primaryKey())
        .addColumn('hold_until', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('failures_in_row', 'integer', (c) => c.notNull().defaultTo(0))
        // The health the last change set (channels.status has it too, written by the send's outcome).
        .addColumn('health', 'text')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      if (kind === 'sqlite') return;
      await sql.raw(TAKE_FUNCTION).execute(db);
      await sql.raw(SETTLE_0025).execute(db);
    },
  },
  '0030_rate_settle_by_key': {
    async up(db: Kysely<unknown>) {
      if (kind === 'sqlite') return;
      await sql.raw(SETTLE_BY_KEY).execute(db);
    },
  },
  '0032_rate_batch': {
    async up(db: Kysely<unknown>) {
      if (kind === 'sqlite') return;
      await sql.raw(BATCH_FUNCTION).execute(db);
    },
  },
});

/**
 * igdm_rate_take: one round trip per call. Under the account's transaction-level advisory lock (every
 * process counting that account's windows waits for it), reads each window's row, leaves out what
 * has left it (answered calls older than its period, calls in flight past their expiry), and takes a
 * place in every window if the call fits all of them: `wait` 0 (taken) or the milliseconds until it
 * would fit (nothing written), by the rules of graph/rate-limit.ts's RateLimiter.wait(), and
 * `blocking`, the window (1-based) that said so when its answered calls fill it.
 * igdm_rate_settle: the call was answered (counted from now) or never left (its place is free).
 *
 * `p_now` null: the database's clock, the same for every process. The commit does not wait for the
 * disk (synchronous_commit off, for this transaction only): the lock is held until the commit, and a
 * flush per call would cap an account at one call per flush; what a crash of PostgreSQL loses is the
 * last few places, i.e. a few calls too many may follow a database crash.
 */
const TAKE_FUNCTION = `
create function igdm_rate_take(
  p_account text, p_place text, p_keys text[], p_limits integer[], p_periods bigint[],
  p_now bigint, p_in_flight_ms bigint, out wait bigint, out blocking integer
) language plpgsql as $$
declare
  v_now bigint := coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint);
  v_wait bigint := 0;
  v_window_wait bigint;
  v_n integer := array_length(p_keys, 1);
  v_row rate_windows%rowtype;
  v_h bigint[];
  v_p text[];
  v_u bigint[];
  v_over integer;
  v_hit_rows text[] := '{}';
  v_place_rows text[] := '{}';
  v_until_rows text[] := '{}';
begin
  perform set_config('synchronous_commit', 'off', true);
  perform pg_advisory_xact_lock(${RATE_LOCK_NAMESPACE}, hashtext(p_account));
  for i in 1 .. v_n loop
    select * into v_row from rate_windows where key = p_keys[i];
    if found then
      v_h := array(select h from unnest(v_row.hits::bigint[]) h where h > v_now - p_periods[i] order by h);
      select coalesce(array_agg(p), '{}'), coalesce(array_agg(u), '{}') into v_p, v_u
        from unnest(v_row.flying::text[], v_row.flying_until::bigint[]) as f(p, u) where u > v_now;
    else
      v_h := '{}';
      v_p := '{}';
      v_u := '{}';
    end if;
    v_over := coalesce(array_length(v_h, 1), 0) + coalesce(array_length(v_p, 1), 0) - p_limits[i];
    if v_over >= 0 then
      v_window_wait := case when v_over < coalesce(array_length(v_h, 1), 0)
        then v_h[v_over + 1] + p_periods[i] - v_now else p_periods[i] end;
      if v_window_wait > v_wait then
        v_wait := v_window_wait;
        -- Named only when answered calls fill it: then nothing but a freed place makes room sooner
        -- (calls in flight may expire).
        blocking := case when v_over < coalesce(array_length(v_h, 1), 0) then i end;
      end if;
    end if;
    v_hit_rows := v_hit_rows || v_h::text;
    v_place_rows := v_place_rows || (v_p || p_place)::text;
    v_until_rows := v_until_rows || (v_u || (v_now + p_in_flight_ms))::text;
  end loop;
  wait := v_wait;
  if v_wait > 0 then
    return;
  end if;
  insert into rate_windows as w (key, hits, flying, flying_until, updated_at)
    select k, h, p, u, v_now from unnest(p_keys, v_hit_rows, v_place_rows, v_until_rows) as t(k, h, p, u)
    on conflict (key) do update
      set hits = excluded.hits, flying = excluded.flying, flying_until = excluded.flying_until,
        updated_at = excluded.updated_at;
  -- Windows no call has touched for a day hold nothing that counts: dropped now and then.
  if random() < 0.001 then
    delete from rate_windows where updated_at < v_now - 86400000;
  end if;
end
$$`;

/** 0025's igdm_rate_settle (replaced by 0030's; test/support/migrations.ts puts it back). */
export const SETTLE_0025 = `
create or replace function igdm_rate_settle(
  p_account text, p_place text, p_keys text[], p_now bigint, p_counted boolean
) returns void language plpgsql as $$
declare
  v_now bigint := coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint);
begin
  perform set_config('synchronous_commit', 'off', true);
  perform pg_advisory_xact_lock(${RATE_LOCK_NAMESPACE}, hashtext(p_account));
  update rate_windows as w set
      hits = case when p_counted and f.held
        then array(select h from unnest(w.hits::bigint[] || v_now) h order by h)::text
        else w.hits end,
      flying = f.places::text,
      flying_until = f.untils::text,
      updated_at = v_now
    from (
      select r.key, coalesce(array_agg(p) filter (where p <> p_place), '{}') as places,
        coalesce(array_agg(u) filter (where p <> p_place), '{}') as untils,
        coalesce(bool_or(p = p_place), false) as held
      from rate_windows r left join lateral unnest(r.flying::text[], r.flying_until::bigint[]) as t(p, u) on true
      where r.key = any(p_keys)
      group by r.key
    ) as f
    where w.key = f.key and f.held;
end
$$`;

/**
 * igdm_rate_settle again (0030), the same outcome for less work: each window's row read and written
 * by its key, the place taken out by its position, the answer's time appended (igdm_rate_take sorts
 * the hits it reads). 0025's one statement over all the keys (`key = any(...)`, a lateral unnest and
 * a group) was planned afresh at every call, since PostgreSQL judged its generic plan costlier; a
 * statement on one key is planned once per connection.
 */
const SETTLE_BY_KEY = `
create or replace function igdm_rate_settle(
  p_account text, p_place text, p_keys text[], p_now bigint, p_counted boolean
) returns void language plpgsql as $$
declare
  v_now bigint := coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint);
  v_p text[];
  v_u bigint[];
  v_at integer;
begin
  perform set_config('synchronous_commit', 'off', true);
  perform pg_advisory_xact_lock(${RATE_LOCK_NAMESPACE}, hashtext(p_account));
  for i in 1 .. coalesce(array_length(p_keys, 1), 0) loop
    select flying::text[], flying_until::bigint[] into v_p, v_u from rate_windows where key = p_keys[i];
    v_at := array_position(v_p, p_place);
    continue when v_at is null;
    update rate_windows set
        hits = case when p_counted then (hits::bigint[] || v_now)::text else hits end,
        flying = (v_p[:v_at - 1] || v_p[v_at + 1:])::text,
        flying_until = (v_u[:v_at - 1] || v_u[v_at + 1:])::text,
        updated_at = v_now
      where key = p_keys[i];
  end loop;
end
$$`;

/**
 * igdm_rate_batch (0032): one round trip for what one process has for an account at once, under the
 * account's lock: first the places to settle (each answered `ago` ms before this call by the
 * process's own clock, or at `at` on a given clock), then the places to take, in order, each seeing
 * the ones before it. One row per take, in the order given: its `wait` and `blocking`, as
 * igdm_rate_take's.
 */
const BATCH_FUNCTION = `
create function igdm_rate_batch(
  p_account text, p_settles jsonb, p_takes jsonb, p_now bigint, p_in_flight_ms bigint
) returns table (wait bigint, blocking integer) language plpgsql as $$
declare
  v_now bigint := coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint);
  s jsonb;
  t jsonb;
begin
  for s in select * from jsonb_array_elements(p_settles) loop
    perform igdm_rate_settle(p_account, s->>'place', array(select jsonb_array_elements_text(s->'keys')),
      coalesce((s->>'at')::bigint, v_now - (s->>'ago')::bigint), (s->>'counted')::boolean);
  end loop;
  for t in select * from jsonb_array_elements(p_takes) loop
    return query select r.wait, r.blocking from igdm_rate_take(p_account, t->>'place',
      array(select jsonb_array_elements_text(t->'keys')),
      array(select jsonb_array_elements_text(t->'limits')::integer),
      array(select jsonb_array_elements_text(t->'periods')::bigint), p_now, p_in_flight_ms) r;
  end loop;
end
$$`;
