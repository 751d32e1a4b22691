-- Recovery routes journal their power actions (kind boot) and platform erases (kind erase) next to the host
-- reconciler's power, activation and deactivation operations.
ALTER TABLE journal DROP CONSTRAINT journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check
    CHECK (kind IN ('power', 'activation', 'deactivation', 'boot', 'erase'));
