-- Takeover between replicas: when a device's session is recorded on a new owner (or a newer session on the same
-- one), every replica is told over NOTIFY dm_device_owner, so one still holding an older session for the device
-- closes it at once instead of waiting for AMT's keep-alive to fail. Payload: "<guid> <owner> <connected_at µs>".
CREATE FUNCTION dm_notify_device_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dm_device_owner', NEW.guid::text || ' ' || NEW.owner_replica || ' ' ||
        (extract(epoch FROM NEW.connected_at) * 1000000)::bigint::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_owner_notify
    AFTER UPDATE OF owner_replica, connected_at ON devices
    FOR EACH ROW
    WHEN (NEW.connection_state = 'connected' AND NEW.owner_replica <> '' AND
          (NEW.owner_replica IS DISTINCT FROM OLD.owner_replica OR NEW.connected_at IS DISTINCT FROM OLD.connected_at))
    EXECUTE FUNCTION dm_notify_device_owner();
