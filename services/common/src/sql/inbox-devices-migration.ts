/**
 * Migration 3 (migrations.ts): several devices per user in the PostgreSQL inbox (DeviceInboxStore in
 * inbox/types.ts, docs/delivery.md "Several devices"), the same model as inbox/redis.ts's scripts:
 * - cim_inbox_devices: the linked devices (device -> ms of its last link).
 * - cim_inbox_boxes: one inbox per device ('' = the default one) with its pending count and expiry; the
 *   counter row keeps the user's seq and the id index's expiry (ttl after the last stored append).
 * - cim_inbox_entries gains `device`: an append stores one row per target device under ONE seq.
 * An upgrade in place: the rows already stored become the default device's ('' is the column's default and
 * the old pending counts move to the '' boxes). The old function signatures stay, as wrappers over the new
 * ones, so a replica still running the previous release keeps working during a rolling upgrade.
 * Every write locks the user's counter row first (as migration 1's do), so appends, acks, links and unlinks
 * of one user run one at a time: an append stores into exactly the devices linked when it ran.
 */
export const INBOX_DEVICES = `
CREATE TABLE cim_inbox_devices (
  user_id   bigint NOT NULL,
  device    text   NOT NULL,
  last_seen bigint NOT NULL,
  PRIMARY KEY (user_id, device)
);

CREATE TABLE cim_inbox_boxes (
  user_id    bigint  NOT NULL,
  device     text    NOT NULL,
  pending    integer NOT NULL DEFAULT 0,
  expires_at bigint  NOT NULL,
  PRIMARY KEY (user_id, device)
);
CREATE INDEX cim_inbox_boxes_expiry ON cim_inbox_boxes (expires_at);

-- What is stored today is the default device's.
INSERT INTO cim_inbox_boxes (user_id, device, pending, expires_at)
  SELECT user_id, '', pending, expires_at FROM cim_inbox_counters WHERE expires_at IS NOT NULL;
ALTER TABLE cim_inbox_counters DROP COLUMN pending;
ALTER TABLE cim_inbox_entries ADD COLUMN device text NOT NULL DEFAULT '';
ALTER TABLE cim_inbox_entries DROP CONSTRAINT cim_inbox_entries_pkey, ADD PRIMARY KEY (user_id, device, seq);
DROP INDEX cim_inbox_entries_sender;
CREATE INDEX cim_inbox_entries_sender ON cim_inbox_entries (user_id, device, sender_id);

-- Deletes what expired of one user's inbox: each device's inbox and the id index expire on their own, ttl after
-- the last append to them (as the Redis keys do). The caller holds the counter row.
CREATE FUNCTION cim_inbox_expire(p_user bigint, p_now bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM cim_inbox_boxes b WHERE b.user_id = p_user AND b.expires_at <= p_now) THEN
    DELETE FROM cim_inbox_entries e USING cim_inbox_boxes b
      WHERE b.user_id = p_user AND b.expires_at <= p_now AND e.user_id = p_user AND e.device = b.device;
    DELETE FROM cim_inbox_boxes b WHERE b.user_id = p_user AND b.expires_at <= p_now;
  END IF;
  UPDATE cim_inbox_counters c SET expires_at = NULL WHERE c.user_id = p_user AND c.expires_at <= p_now;
  IF FOUND THEN DELETE FROM cim_inbox_ids i WHERE i.user_id = p_user; END IF;
END $$;
DROP FUNCTION cim_inbox_clear(bigint);

-- The append of inbox/redis.ts's Lua script: the targets are the linked devices but p_except (a carbon copy), or
-- the default inbox when none is linked. p_cap 0 = no per-sender bound. r_refused: NULL, 'per-sender', 'no-device'.
CREATE FUNCTION cim_inbox_device_append(p_user bigint, p_id text, p_sender bigint, p_body text, p_max integer, p_ttl_ms bigint, p_cap integer, p_now bigint, p_except text,
  OUT r_seq bigint, OUT r_duplicate boolean, OUT r_dropped integer, OUT r_refused text)
LANGUAGE plpgsql AS $$
DECLARE
  c cim_inbox_counters%ROWTYPE;
  targets text[];
  d text;
  n integer;
  k integer;
BEGIN
  r_duplicate := false; r_dropped := 0;
  INSERT INTO cim_inbox_counters (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  SELECT * INTO STRICT c FROM cim_inbox_counters WHERE user_id = p_user FOR UPDATE;
  PERFORM cim_inbox_expire(p_user, p_now);
  SELECT i.seq INTO r_seq FROM cim_inbox_ids i WHERE i.user_id = p_user AND i.id = p_id;
  IF FOUND THEN
    r_duplicate := true;
    RETURN;
  END IF;
  r_seq := 0;
  SELECT coalesce(array_agg(v.device), '{}') INTO targets FROM cim_inbox_devices v WHERE v.user_id = p_user AND v.device IS DISTINCT FROM p_except;
  IF cardinality(targets) = 0 THEN
    -- No linked device but the sender's (or none at all): a carbon copy has nowhere to go.
    IF p_except IS NOT NULL THEN
      r_refused := 'no-device';
      RETURN;
    END IF;
    targets := ARRAY[''];
  END IF;
  IF p_cap > 0 AND EXISTS (SELECT 1 FROM unnest(targets) t (device) WHERE (SELECT count(*) FROM
      (SELECT 1 FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.device = t.device AND e.sender_id = p_sender LIMIT p_cap) s) >= p_cap) THEN
    r_refused := 'per-sender';
    RETURN;
  END IF;
  r_seq := c.seq + 1;
  INSERT INTO cim_inbox_entries (user_id, device, seq, sender_id, body) SELECT p_user, t, r_seq, p_sender, p_body FROM unnest(targets) t;
  FOREACH d IN ARRAY targets LOOP
    INSERT INTO cim_inbox_boxes AS b (user_id, device, pending, expires_at) VALUES (p_user, d, 1, p_now + p_ttl_ms)
      ON CONFLICT (user_id, device) DO UPDATE SET pending = b.pending + 1, expires_at = EXCLUDED.expires_at RETURNING b.pending INTO n;
    IF n > p_max THEN
      DELETE FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.device = d AND e.seq IN
        (SELECT o.seq FROM cim_inbox_entries o WHERE o.user_id = p_user AND o.device = d ORDER BY o.seq LIMIT n - p_max);
      GET DIAGNOSTICS k = ROW_COUNT;
      UPDATE cim_inbox_boxes b SET pending = n - k WHERE b.user_id = p_user AND b.device = d;
      r_dropped := r_dropped + k;
    END IF;
  END LOOP;
  INSERT INTO cim_inbox_ids (user_id, id, seq) VALUES (p_user, p_id, r_seq);
  -- Every stored append added one id with its own seq, so the newest 2 x max ids are those above this bound.
  DELETE FROM cim_inbox_ids i WHERE i.user_id = p_user AND i.seq <= r_seq - 2 * p_max;
  UPDATE cim_inbox_counters SET seq = r_seq, expires_at = p_now + p_ttl_ms WHERE user_id = p_user;
END $$;

-- Removes and returns one device's entries with these seqs; of two concurrent acks of one seq only one returns it.
CREATE FUNCTION cim_inbox_device_ack(p_user bigint, p_device text, p_seqs bigint[], p_now bigint) RETURNS TABLE (r_seq bigint, r_body text)
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  PERFORM 1 FROM cim_inbox_counters c WHERE c.user_id = p_user FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM cim_inbox_expire(p_user, p_now);
  RETURN QUERY DELETE FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.device = p_device AND e.seq = ANY (p_seqs) RETURNING e.seq, e.body;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    UPDATE cim_inbox_boxes b SET pending = greatest(b.pending - n, 0) WHERE b.user_id = p_user AND b.device = p_device;
  END IF;
END $$;

-- Links (or refreshes) p_device at p_now after unlinking p_evict, which inbox/devices.ts planned from p_snapshot
-- (the linked devices as 'device=lastSeen', by device, ';'-joined). False when they changed since: plan again.
-- The first device linked inherits the default inbox's entries.
CREATE FUNCTION cim_inbox_link(p_user bigint, p_device text, p_now bigint, p_snapshot text, p_evict text[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  linked text;
BEGIN
  INSERT INTO cim_inbox_counters (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  PERFORM 1 FROM cim_inbox_counters c WHERE c.user_id = p_user FOR UPDATE;
  SELECT coalesce(string_agg(v.device || '=' || v.last_seen, ';' ORDER BY v.device COLLATE "C"), '') INTO linked FROM cim_inbox_devices v WHERE v.user_id = p_user;
  IF linked <> p_snapshot THEN RETURN false; END IF;
  DELETE FROM cim_inbox_devices v WHERE v.user_id = p_user AND v.device = ANY (p_evict);
  DELETE FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.device = ANY (p_evict);
  DELETE FROM cim_inbox_boxes b WHERE b.user_id = p_user AND b.device = ANY (p_evict);
  IF p_device <> '' AND NOT EXISTS (SELECT 1 FROM cim_inbox_devices v WHERE v.user_id = p_user) THEN
    DELETE FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.device = p_device;
    DELETE FROM cim_inbox_boxes b WHERE b.user_id = p_user AND b.device = p_device;
    UPDATE cim_inbox_entries e SET device = p_device WHERE e.user_id = p_user AND e.device = '';
    UPDATE cim_inbox_boxes b SET device = p_device WHERE b.user_id = p_user AND b.device = '';
  END IF;
  INSERT INTO cim_inbox_devices AS v (user_id, device, last_seen) VALUES (p_user, p_device, p_now)
    ON CONFLICT (user_id, device) DO UPDATE SET last_seen = EXCLUDED.last_seen;
  RETURN true;
END $$;

-- Unlinks a device and deletes its inbox; false when it was not linked.
CREATE FUNCTION cim_inbox_unlink(p_user bigint, p_device text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM cim_inbox_counters c WHERE c.user_id = p_user FOR UPDATE;
  DELETE FROM cim_inbox_devices v WHERE v.user_id = p_user AND v.device = p_device;
  IF NOT FOUND THEN RETURN false; END IF;
  DELETE FROM cim_inbox_entries e WHERE e.user_id = p_user AND e.device = p_device;
  DELETE FROM cim_inbox_boxes b WHERE b.user_id = p_user AND b.device = p_device;
  RETURN true;
END $$;

-- Deletes the expired rows of up to p_limit users (skipping ones being written); returns how many users.
CREATE OR REPLACE FUNCTION cim_inbox_sweep(p_now bigint, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  u bigint;
  n integer := 0;
BEGIN
  FOR u IN SELECT c.user_id FROM cim_inbox_counters c WHERE c.user_id IN (
      (SELECT x.user_id FROM cim_inbox_counters x WHERE x.expires_at <= p_now LIMIT p_limit)
      UNION (SELECT b.user_id FROM cim_inbox_boxes b WHERE b.expires_at <= p_now LIMIT p_limit))
    LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
    PERFORM cim_inbox_expire(u, p_now);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- The previous release's signatures, for its replicas during a rolling upgrade: the default device's view.
CREATE OR REPLACE FUNCTION cim_inbox_append(p_user bigint, p_id text, p_sender bigint, p_body text, p_max integer, p_ttl_ms bigint, p_cap integer, p_now bigint,
  OUT r_seq bigint, OUT r_duplicate boolean, OUT r_dropped integer, OUT r_refused boolean)
LANGUAGE sql AS $$
  SELECT a.r_seq, a.r_duplicate, a.r_dropped, a.r_refused IS NOT NULL FROM cim_inbox_device_append(p_user, p_id, p_sender, p_body, p_max, p_ttl_ms, p_cap, p_now, NULL) a
$$;
CREATE OR REPLACE FUNCTION cim_inbox_ack(p_user bigint, p_seqs bigint[], p_now bigint) RETURNS TABLE (r_seq bigint, r_body text)
LANGUAGE sql AS $$
  SELECT a.r_seq, a.r_body FROM cim_inbox_device_ack(p_user, '', p_seqs, p_now) a
$$;
`;
