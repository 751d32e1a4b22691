-- CIRA usernames need not be unique: the gateway identifies a device by the GUID AMT sends in its APF
-- protocol-version message (protocol-cira-wsman §4.2) and only then checks username and password, and EMF
-- configures every device with the same username ("admin"), so a migrated fleet shares one. Nothing looks a
-- device up by username, so no index replaces the constraint.
ALTER TABLE devices DROP CONSTRAINT devices_cira_username_key;
