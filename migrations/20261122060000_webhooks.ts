import type { Knex } from 'knex';

/**
 * Webhook subscriptions of integration services and the history of their deliveries: configuration
 * and operational data, not events (the secret must never enter the log, which auditors export and
 * integrations stream). A subscription's position is its checkpoint in the log: the last event
 * delivered or dead-lettered (null: none yet, so delivery starts at the beginning).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE webhook_subscriptions (
      id                    uuid           PRIMARY KEY,
      url                   text           NOT NULL,
      secret                text           NOT NULL,
      filter                jsonb          NOT NULL,
      state                 text           NOT NULL CHECK (state IN ('active', 'paused')),
      position              text COLLATE "C",
      -- Counts resets: a delivery run that read an older position stores nothing.
      generation            integer        NOT NULL DEFAULT 0,
      -- Failed attempts at the event now in flight.
      consecutive_failures  integer        NOT NULL DEFAULT 0,
      dead_lettered         bigint         NOT NULL DEFAULT 0,
      created_by            text           NOT NULL,
      -- Milliseconds, as in the list's cursors.
      created_at            timestamptz(3) NOT NULL DEFAULT now(),
      updated_at            timestamptz    NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_subscriptions_listed ON webhook_subscriptions (created_at, id);

    CREATE TABLE webhook_deliveries (
      id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscription_id  uuid        NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
      event_id         uuid        NOT NULL,
      position         text COLLATE "C" NOT NULL,
      attempt          integer     NOT NULL,
      status           text        NOT NULL CHECK (status IN ('delivered', 'failed', 'dead-lettered')),
      http_status      integer,
      error            text,
      duration_ms      integer     NOT NULL,
      at               timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE webhook_deliveries; DROP TABLE webhook_subscriptions');
}
