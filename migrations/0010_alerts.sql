-- Real-time alerts (src/alerts): one row per alert, its id deterministic (threshold:<movement>:<asset>,
-- spike:<scope>:<window start>), so a consumer that replays events after a restart adds nothing twice.
-- What was detected is never changed; only the acknowledgement is filled in, once.
CREATE TABLE alerts (
  seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  alert_id         text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('threshold', 'spike')),
  scope            text NOT NULL CHECK (scope IN ('movement', 'pot', 'fund')),
  scope_id         text NOT NULL,
  pot_id           text,
  movement_id      text NOT NULL,
  asset            text,
  amount_minor     bigint,
  threshold_minor  bigint,
  window_start     timestamptz,
  count            integer,
  history_total    bigint,
  detected_at      timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  acknowledged_at  timestamptz,
  acknowledged_by  text,
  note             text,
  CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
CREATE INDEX alerts_open ON alerts (seq) WHERE acknowledged_at IS NULL;

CREATE FUNCTION potledger_alert_acknowledge_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'alerts are kept: % cannot be deleted', OLD.alert_id; END IF;
  IF OLD.acknowledged_at IS NOT NULL THEN RAISE EXCEPTION 'alert % is acknowledged already', OLD.alert_id; END IF;
  IF (NEW.seq, NEW.alert_id, NEW.kind, NEW.scope, NEW.scope_id, NEW.pot_id, NEW.movement_id, NEW.asset, NEW.amount_minor, NEW.threshold_minor,
      NEW.window_start, NEW.count, NEW.history_total, NEW.detected_at, NEW.created_at)
     IS DISTINCT FROM
     (OLD.seq, OLD.alert_id, OLD.kind, OLD.scope, OLD.scope_id, OLD.pot_id, OLD.movement_id, OLD.asset, OLD.amount_minor, OLD.threshold_minor,
      OLD.window_start, OLD.count, OLD.history_total, OLD.detected_at, OLD.created_at) THEN
    RAISE EXCEPTION 'alert %: only its acknowledgement may be filled in', OLD.alert_id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER alerts_acknowledge_only BEFORE UPDATE OR DELETE ON alerts FOR EACH ROW EXECUTE FUNCTION potledger_alert_acknowledge_only();

-- Where the alert consumer has got to in the event stream (it replays from two histories before it).
CREATE TABLE alert_checkpoints (
  consumer      text PRIMARY KEY,
  stream_seq    bigint NOT NULL,
  event_at      timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

REVOKE ALL ON alerts, alert_checkpoints FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON alerts, alert_checkpoints TO potledger_writer;
GRANT SELECT ON alerts, alert_checkpoints TO potledger_reader;
