import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';

// The PostgreSQL queue's claim as one function (0027; src/queue/postgres-statements.ts): one round
// trip instead of four (begin, the candidates, their activation, commit). The two statements stay
// two: in a VOLATILE PL/pgSQL function each takes a fresh snapshot, so the activation sees every
// claim of a key that committed before the key's lock was taken, as it did as a statement of its own.
// Statuses are literals so the partial indexes apply. On SQLite nothing (the embedded queue claims
// on its one connection).

export const queueMigrations = (kind: StoreKind): Record<string, Migration> => ({
  '0027_queue_claim': {
    async up(db: Kysely<unknown>) {
      if (kind === 'sqlite') return;
      await sql`create or replace function igdm_claim(p_queue text, p_now bigint, p_limit integer, p_lease bigint)
        returns setof jobs language plpgsql volatile as $$
        declare
          ids bigint[];
        begin
          -- 1. The oldest unfinished job of each idle key, row-locked (others skip them), then the
          -- keys' locks where free (held until the claiming transaction ends).
          with c as materialized (
            select j.id, j.queue, j.key from jobs j
            where j.queue = p_queue and j.status = 'ready' and j.run_at <= p_now
              and not exists (select 1 from jobs k where k.queue = j.queue and k.key = j.key
                and k.status in ('ready', 'active') and k.order_at <= j.order_at
                and (k.order_at < j.order_at or k.id < j.id))
              and not exists (select 1 from jobs k where k.queue = j.queue and k.key = j.key
                and k.status in ('ready', 'active') and k.status = 'active')
            order by j.order_at, j.id
            limit p_limit
            for update of j skip locked)
          select array_agg(c.id) into ids from c
          where pg_try_advisory_xact_lock(hashtext(c.queue), hashtext(c.key));
          if ids is null then
            return;
          end if;
          -- 2. With the keys locked, a fresh snapshot: none of the key may have become active meanwhile.
          return query
            update jobs j set status = 'active', attempts = j.attempts + 1,
              locked_until = (extract(epoch from clock_timestamp()) * 1000)::bigint + p_lease,
              updated_at = p_now
            where j.id = any(ids) and j.status = 'ready'
              and not exists (select 1 from jobs k where k.queue = j.queue and k.key = j.key and k.status = 'active')
            returning j.*;
        end $$`.execute(db);
    },
  },
  // A round in one call (src/queue/postgres.ts): the runs that succeeded marked done (fenced on their
  // attempts), then igdm_claim for each queue asked, in one statement (one transaction: each key's
  // lock is held until it all commits); a queue asked `if waiting` is claimed only when a job that
  // ended there has another of its key ready. The outcomes and the claims (one per queue) were a
  // round trip each. With no runs it is the claims alone; with no queues, the outcomes alone.
  '0031_queue_round': {
    async up(db: Kysely<unknown>) {
      if (kind === 'sqlite') return;
      await sql`create or replace function igdm_round(p_ids bigint[], p_attempts integer[], p_results text[],
          p_now bigint, p_queues text[], p_limits integer[], p_if_waiting boolean[], p_lease bigint)
        returns table (o_settled boolean, o_waiting boolean, o_id bigint, o_queue text, o_key text,
          o_order_at bigint, o_dedup_key text, o_payload text, o_attempts integer)
        language plpgsql volatile as $$
        declare
          v_ids bigint[];
          v_queues text[];
          v_waiting boolean[];
        begin
          with s as (
            update jobs j set status = 'done', result = r.result, locked_until = null,
              updated_at = p_now, finished_at = p_now
            from unnest(p_ids, p_attempts, p_results) as r(id, attempts, result)
            where j.id = r.id and j.attempts = r.attempts and j.status = 'active'
            returning j.id, j.queue, exists (select 1 from jobs k where k.queue = j.queue and k.key = j.key
              and k.status = 'ready') as waiting)
          select coalesce(array_agg(s.id), '{}'), coalesce(array_agg(s.queue), '{}'),
              coalesce(array_agg(s.waiting), '{}')
            into v_ids, v_queues, v_waiting from s;
          return query select true, t.waiting, t.id, t.queue, null::text, null::bigint, null::text, null::text,
              null::integer
            from unnest(v_ids, v_queues, v_waiting) as t(id, queue, waiting);
          for n in 1 .. coalesce(array_length(p_queues, 1), 0) loop
            if not p_if_waiting[n]
                or exists (select 1 from unnest(v_queues, v_waiting) as u(queue, waiting)
                  where u.queue = p_queues[n] and u.waiting) then
              return query select false, false, c.id, c.queue, c.key, c.order_at, c.dedup_key, c.payload,
                  c.attempts
                from igdm_claim(p_queues[n], p_now, p_limits[n], p_lease) c;
            end if;
          end loop;
        end $$`.execute(db);
    },
  },
  // runNow() asked while the job ran (1): a wait its run ends with is cut short (queue/outcomes.ts).
  // On the row, so that a runNow() from any process and the run's outcome meet there, whichever
  // comes first.
  '0029_job_run_again': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('jobs')
        .addColumn('run_again', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
});
