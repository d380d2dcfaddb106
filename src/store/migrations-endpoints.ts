import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

// A webhook endpoint keeps the snapshot of the moment it was made or enabled again (0028;
// store/webhook-endpoints.ts, deliveries/dispatcher.ts). On PostgreSQL an event that committed
// before that moment can still lie after the endpoint's place in the log (an older transaction was
// open); with the snapshot the dispatcher passes over it. The column stays null on SQLite.

export const endpointMigrations = (): Record<string, Migration> => ({
  '0028_endpoint_snapshot': {
    async up(db: Kysely<unknown>) {
      await sql`alter table webhook_endpoints add column dispatch_snapshot text`.execute(db);
    },
  },
});
