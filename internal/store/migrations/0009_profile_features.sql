-- Redirection features a tenant sets per profile (REST PATCH /amt/admin/profiles). The defaults are the values of
-- EMF's tenant profiles (protocol-rps-activation §3.7): KVM and SOL on, IDE-R off. The tenant reconciler's upsert
-- leaves these columns alone, so a tenant's choice survives every reconcile.
ALTER TABLE profiles
    ADD COLUMN kvm_enabled  boolean NOT NULL DEFAULT true,
    ADD COLUMN sol_enabled  boolean NOT NULL DEFAULT true,
    ADD COLUMN ider_enabled boolean NOT NULL DEFAULT false;
