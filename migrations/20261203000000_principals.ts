import type { Knex } from 'knex';

/**
 * Principals: who acts (a person, an agent, an integration, the system), with a stable id that
 * events record as the actor, and roles. API keys become credentials of a principal: several at
 * once, each with its own name, an optional expiry and the time it was last used.
 *
 * Existing keys become principals whose id is the key's name, which is what the log already
 * records as their actor; `recorded` stays false until the log holds their creation too (the
 * processes record it when they start).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE principals (
      id          text        PRIMARY KEY,
      kind        text        NOT NULL CHECK (kind IN ('user', 'agent', 'integration', 'system')),
      name        text        NOT NULL,
      roles       text[]      NOT NULL CHECK (roles <@ ARRAY['admin', 'operator', 'approver', 'agent', 'auditor', 'integration']),
      agent_id    uuid,
      disabled_at timestamptz,
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now(),
      -- A person known from a token: its issuer and subject.
      issuer      text,
      subject     text,
      recorded    boolean     NOT NULL DEFAULT true,
      UNIQUE (issuer, subject)
    );

    -- One principal per key name; its roles and kind are those of its active key (else its latest).
    INSERT INTO principals (id, kind, name, roles, created_at, recorded)
    SELECT DISTINCT ON (name) name,
           CASE role WHEN 'agent' THEN 'agent' WHEN 'integration' THEN 'integration' ELSE 'user' END,
           name, ARRAY[role], min(created_at) OVER (PARTITION BY name), false
      FROM api_keys
     ORDER BY name, revoked_at IS NULL DESC, created_at DESC;

    ALTER TABLE api_keys
      ADD COLUMN principal_id text REFERENCES principals (id),
      ADD COLUMN expires_at   timestamptz,
      ADD COLUMN last_used_at timestamptz;
    UPDATE api_keys SET principal_id = name;
    ALTER TABLE api_keys ALTER COLUMN principal_id SET NOT NULL, ALTER COLUMN role DROP NOT NULL;
    DROP INDEX api_keys_active_name;
    CREATE UNIQUE INDEX api_keys_active_name ON api_keys (principal_id, name) WHERE revoked_at IS NULL;

    -- Idempotency is per principal now, so a rotated key answers its predecessor's repeats.
    ALTER TABLE idempotency_keys ALTER COLUMN api_key_id TYPE text;
    UPDATE idempotency_keys i SET api_key_id = k.name FROM api_keys k WHERE k.id::text = i.api_key_id;
    ALTER TABLE idempotency_keys RENAME COLUMN api_key_id TO principal_id;

    -- Subscriptions belong to the principal that created them (created_by already names it).
    ALTER TABLE webhook_subscriptions ADD COLUMN owner_id text;
    UPDATE webhook_subscriptions SET owner_id = created_by;
    ALTER TABLE webhook_subscriptions ALTER COLUMN owner_id SET NOT NULL;
    CREATE INDEX webhook_subscriptions_owned ON webhook_subscriptions (owner_id, created_at, id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX webhook_subscriptions_owned;
    ALTER TABLE webhook_subscriptions DROP COLUMN owner_id;
    ALTER TABLE idempotency_keys RENAME COLUMN principal_id TO api_key_id;
    DELETE FROM idempotency_keys WHERE api_key_id !~ '^[0-9a-f-]{36}$';
    ALTER TABLE idempotency_keys ALTER COLUMN api_key_id TYPE uuid USING api_key_id::uuid;
    DROP INDEX api_keys_active_name;
    UPDATE api_keys SET role = (SELECT roles[1] FROM principals WHERE id = principal_id) WHERE role IS NULL;
    ALTER TABLE api_keys DROP COLUMN principal_id, DROP COLUMN expires_at, DROP COLUMN last_used_at, ALTER COLUMN role SET NOT NULL;
    CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
    DROP TABLE principals;
  `);
}
