/**
 * The PostgreSQL schema of the SQL inbox/history backend, as numbered migrations (applied in order, each once,
 * by migrate.ts). Kept as TS constants so the build (tsconfig.build.json → dist) ships them with the code.
 * Never edit a released migration: add the next number.
 *
 * Design (docs/delivery.md "SQL backend"), mirroring the Redis scripts:
 * - one counter row per owner (user / conversation) holds the seq (never expires, so seqs never repeat), the
 *   pending count (inbox) and expires_at (ms since epoch, NULL when nothing is stored). Every write locks that
 *   row first (SELECT ... FOR UPDATE), so one owner's appends and acks run one at a time: seqs are gapless and
 *   a (sender, msgId) is stored once however many replicas append it at once.
 * - the writes are PL/pgSQL functions: one round trip per append, the row lock held for microseconds.
 * - entries keep the message as JSON text (not jsonb: it refuses \u0000, which a text may hold); `seq` is
 *   spliced in on read, as in Redis, and the shared parser validates what it reads.
 * - expiry: an inbox/conversation is absent once expires_at <= now (the caller's clock); its rows are deleted
 *   lazily by the next write to it, or by the sweep functions (select.ts runs them periodically).
 */
import { INBOX_DEVICES } from './inbox-devices-migration.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const INBOX = `
CREATE TABLE cim_inbox_counters (
  user_id    bigint  PRIMARY KEY,
  seq        bigint  NOT NULL DEFAULT 0,
  pending    integer NOT NULL DEFAULT 0,
  expires_at bigint
);
CREATE INDEX cim_inbox_counters_expiry ON cim_inbox_counters (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE cim_inbox_entries (
  user_id   bigint NOT NULL,
  seq       bigint NOT NULL,
  sender_id bigint NOT NULL,
  body      text   NOT NULL,
  PRIMARY KEY (user_id, seq)
);
-- the per-sender bound counts one sender's pending entries through this index
CREATE INDEX cim_inbox_entries_sender ON cim_inbox_entries (user_id, sender_id);

-- the idempotency index: sender:msgId -> seq of the last 2 x maxEntries stored appends
CREATE TABLE cim_inbox_ids (
  user_id bigint NOT NULL,
  id      text   NOT NULL,
  seq     bigint NOT NULL,
  PRIMARY KEY (user_id, id)
);
CREATE INDEX cim_inbox_ids_seq ON cim_inbox_ids (user_id, seq);

-- Empties an inbox (expired); the caller holds its counter row.
CREATE FUNCTION cim_inbox_clear(p_user bigint) RETURNS void LANGUAGE sql AS $$
  DELETE FROM cim_inbox_entries WHERE user_id = p_user;
  DELETE FROM cim_inbox_ids WHERE user_id = p_user;
  UPDATE cim_inbox_counters SET pending = 0, expires_at = NULL WHERE user_id = p_user;
$$;

-- The append of inbox/redis.ts's Lua script. p_cap 0 = no per-sender bound.
CREATE FUNCTION cim_inbox_append(p_user bigint, p_id text, p_sender bigint, p_body text, p_max integer, p_ttl_ms bigint, p_cap integer, p_now bigint,
  OUT r_seq bigint, OUT r_duplicate boolean, OUT r_dropped integer, OUT r_refused boolean)
LANGUAGE plpgsql AS $$
DECLARE
  c cim_inbox_counters%ROWTYPE;
  held integer;
BEGIN
  r_duplicate := false; r_dropped := 0; r_refused := false;
  INSERT INTO cim_inbox_counters (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  SELECT * INTO STRICT c FROM cim_inbox_counters WHERE user_id = p_user FOR UPDATE;
  IF c.expires_at <= p_now THEN
    PERFORM cim_inbox_clear(p_user);
    c.pending := 0;
  END IF;
  SELECT i.seq INTO r_seq FROM cim_inbox_ids i WHERE i.user_id = p_user AND i.id = p_id;
  IF FOUND THEN
    r_duplicate := true;
    RETURN;
  END IF;
  IF p_cap > 0 THEN
    SELECT count(*) INTO held FROM (SELECT 1 FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.sender_id = p_sender LIMIT p_cap) s;
    IF held >= p_cap THEN
      r_seq := 0;
      r_refused := true;
      RETURN;
    END IF;
  END IF;
  r_seq := c.seq + 1;
  INSERT INTO cim_inbox_entries (user_id, seq, sender_id, body) VALUES (p_user, r_seq, p_sender, p_body);
  INSERT INTO cim_inbox_ids (user_id, id, seq) VALUES (p_user, p_id, r_seq);
  IF c.pending + 1 > p_max THEN
    DELETE FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.seq IN
      (SELECT o.seq FROM cim_inbox_entries o WHERE o.user_id = p_user ORDER BY o.seq LIMIT c.pending + 1 - p_max);
    GET DIAGNOSTICS r_dropped = ROW_COUNT;
  END IF;
  -- Every stored append added one id with its own seq, so the newest 2 x max ids are those above this bound.
  DELETE FROM cim_inbox_ids i WHERE i.user_id = p_user AND i.seq <= r_seq - 2 * p_max;
  UPDATE cim_inbox_counters SET seq = r_seq, pending = c.pending + 1 - r_dropped, expires_at = p_now + p_ttl_ms WHERE user_id = p_user;
END $$;

-- Removes and returns the entries with these seqs; of two concurrent acks of one seq only one returns it.
CREATE FUNCTION cim_inbox_ack(p_user bigint, p_seqs bigint[], p_now bigint) RETURNS TABLE (r_seq bigint, r_body text)
LANGUAGE plpgsql AS $$
DECLARE
  c cim_inbox_counters%ROWTYPE;
  n integer;
BEGIN
  SELECT * INTO c FROM cim_inbox_counters WHERE user_id = p_user FOR UPDATE;
  IF NOT FOUND OR c.expires_at IS NULL THEN RETURN; END IF;
  IF c.expires_at <= p_now THEN
    PERFORM cim_inbox_clear(p_user);
    RETURN;
  END IF;
  RETURN QUERY DELETE FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.seq = ANY (p_seqs) RETURNING e.seq, e.body;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE cim_inbox_counters SET pending = pending - n WHERE user_id = p_user;
END $$;

-- Deletes the rows of up to p_limit expired inboxes (skipping ones being written); returns how many.
CREATE FUNCTION cim_inbox_sweep(p_now bigint, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  u bigint;
  n integer := 0;
BEGIN
  FOR u IN SELECT user_id FROM cim_inbox_counters WHERE expires_at <= p_now LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
    PERFORM cim_inbox_clear(u);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;
`;

const HISTORY = `
CREATE TABLE cim_history_counters (
  conversation text   PRIMARY KEY,
  seq          bigint NOT NULL DEFAULT 0,
  expires_at   bigint
);
CREATE INDEX cim_history_counters_expiry ON cim_history_counters (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE cim_history_entries (
  conversation text   NOT NULL,
  seq          bigint NOT NULL,
  body         text   NOT NULL,
  PRIMARY KEY (conversation, seq)
);

CREATE TABLE cim_history_ids (
  conversation text   NOT NULL,
  id           text   NOT NULL,
  seq          bigint NOT NULL,
  PRIMARY KEY (conversation, id)
);
CREATE INDEX cim_history_ids_seq ON cim_history_ids (conversation, seq);

CREATE FUNCTION cim_history_clear(p_conversation text) RETURNS void LANGUAGE sql AS $$
  DELETE FROM cim_history_entries WHERE conversation = p_conversation;
  DELETE FROM cim_history_ids WHERE conversation = p_conversation;
  UPDATE cim_history_counters SET expires_at = NULL WHERE conversation = p_conversation;
$$;

-- The append of history/redis.ts's Lua script.
CREATE FUNCTION cim_history_append(p_conversation text, p_id text, p_body text, p_max integer, p_ttl_ms bigint, p_now bigint,
  OUT r_seq bigint, OUT r_duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
  c cim_history_counters%ROWTYPE;
BEGIN
  r_duplicate := false;
  INSERT INTO cim_history_counters (conversation) VALUES (p_conversation) ON CONFLICT (conversation) DO NOTHING;
  SELECT * INTO STRICT c FROM cim_history_counters WHERE conversation = p_conversation FOR UPDATE;
  IF c.expires_at <= p_now THEN
    PERFORM cim_history_clear(p_conversation);
  END IF;
  SELECT i.seq INTO r_seq FROM cim_history_ids i WHERE i.conversation = p_conversation AND i.id = p_id;
  IF FOUND THEN
    r_duplicate := true;
    RETURN;
  END IF;
  r_seq := c.seq + 1;
  INSERT INTO cim_history_entries (conversation, seq, body) VALUES (p_conversation, r_seq, p_body);
  INSERT INTO cim_history_ids (conversation, id, seq) VALUES (p_conversation, p_id, r_seq);
  -- Nothing else removes entries or ids, so the newest max (2 x max) are exactly those above these bounds.
  DELETE FROM cim_history_entries e WHERE e.conversation = p_conversation AND e.seq <= r_seq - p_max;
  DELETE FROM cim_history_ids i WHERE i.conversation = p_conversation AND i.seq <= r_seq - 2 * p_max;
  UPDATE cim_history_counters SET seq = r_seq, expires_at = p_now + p_ttl_ms WHERE conversation = p_conversation;
END $$;

CREATE FUNCTION cim_history_sweep(p_now bigint, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  k text;
  n integer := 0;
BEGIN
  FOR k IN SELECT conversation FROM cim_history_counters WHERE expires_at <= p_now LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
    PERFORM cim_history_clear(k);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'inbox', sql: INBOX },
  { version: 2, name: 'history', sql: HISTORY },
  { version: 3, name: 'inbox-devices', sql: INBOX_DEVICES },
];
