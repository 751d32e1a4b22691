package tenant

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// ProfileNames are the profile names the rpc-go command carries (EMF: <tenant>_ccm, <tenant>_acm, protocol-rps-activation §3.7).
func ProfileNames(tenant string) (ccm, acm string) { return tenant + "_ccm", tenant + "_acm" }

// profiles are the two activation profiles of a tenant. Both apply the tenant's CIRA configuration, named after
// the tenant as EMF does; CCM needs user consent for everything (AMT requires it in client control mode), ACM none.
func profiles(tenant string) []store.Profile {
	ccm, acm := ProfileNames(tenant)
	return []store.Profile{
		{TenantID: tenant, Name: ccm, Activation: store.ActivationCCM, CIRAConfig: tenant, UserConsent: store.ConsentAll},
		{TenantID: tenant, Name: acm, Activation: store.ActivationACM, CIRAConfig: tenant, UserConsent: store.ConsentNone},
	}
}

// ensure makes the tenant's records what they should be, writing only what differs; st is the leader's fenced store.
func (r *Reconciler) ensure(ctx context.Context, log zerolog.Logger, st Store, tenant string) error {
	want := store.Tenant{ID: tenant, CIRAServerAddress: r.cfg.CIRAServerAddress,
		CIRARootCertDERB64: r.deps.CA.RootDERBase64(), PasswordPolicy: r.cfg.PasswordPolicy}
	cur, err := st.GetTenant(ctx, tenant)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && !sameTenant(cur, want):
		if _, err := st.UpsertTenant(ctx, want); err != nil {
			return fmt.Errorf("record tenant CIRA config: %w", err)
		}
		log.Info().Str("cira_server", want.CIRAServerAddress).Str("password_policy", want.PasswordPolicy).
			Msg("tenant CIRA config recorded")
	case err != nil:
		return fmt.Errorf("read tenant: %w", err)
	}
	for _, p := range profiles(tenant) {
		cur, err := st.GetProfile(ctx, tenant, p.Name)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && !sameProfile(cur, p):
			if _, err := st.UpsertProfile(ctx, p); err != nil {
				return fmt.Errorf("record profile %s: %w", p.Name, err)
			}
			log.Info().Str("profile", p.Name).Msg("activation profile recorded")
		case err != nil:
			return fmt.Errorf("read profile %s: %w", p.Name, err)
		}
	}
	if r.cfg.PasswordPolicy == PolicyStatic {
		return r.ensurePassword(ctx, log, tenant)
	}
	return nil
}

// ensurePassword generates the tenant's AMT password once; an existing one is never replaced (devices were
// activated with it). The write is create-if-absent, so even two replicas that both believe they lead (or an
// operator's own value written meanwhile) end with one password.
func (r *Reconciler) ensurePassword(ctx context.Context, log zerolog.Logger, tenant string) error {
	path, err := secrets.TenantAMTPassword(tenant)
	if err != nil {
		return err
	}
	switch _, err := r.deps.Secrets.Get(ctx, path); {
	case err == nil:
		return nil
	case !errors.Is(err, secrets.ErrNotFound):
		return fmt.Errorf("read tenant AMT password: %w", err)
	}
	pw, err := r.deps.Password()
	if err != nil {
		return fmt.Errorf("generate tenant AMT password: %w", err)
	}
	_, created, err := r.deps.Secrets.CreateIfAbsent(ctx, path, map[string]string{secrets.KeyPassword: pw})
	if err != nil {
		return fmt.Errorf("store tenant AMT password: %w", err)
	}
	if created {
		log.Info().Msg("tenant AMT password generated (static policy)")
	}
	return nil
}

// cleanup removes everything of the tenant: secrets first, then the tenant row, whose deletion cascades to its
// profiles, domains, devices and journal (store migration 0001). An interrupted clean-up is finished by the next
// reconcile, because the row is what brings the tenant back to the reconciler.
func (r *Reconciler) cleanup(ctx context.Context, log zerolog.Logger, st Store, tenant string) error {
	prefix, err := secrets.TenantPrefix(tenant)
	if err != nil {
		return err
	}
	if err := r.deps.Secrets.DeletePrefix(ctx, prefix); err != nil {
		return fmt.Errorf("delete tenant secrets: %w", err)
	}
	switch err := st.DeleteTenant(ctx, tenant); {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("delete tenant records: %w", err)
	}
	log.Info().Msg("tenant removed: secrets, CIRA config, profiles, domains and devices")
	return nil
}

func sameTenant(a, b store.Tenant) bool {
	return a.CIRAServerAddress == b.CIRAServerAddress && a.CIRARootCertDERB64 == b.CIRARootCertDERB64 &&
		a.PasswordPolicy == b.PasswordPolicy
}

func sameProfile(a, b store.Profile) bool {
	return a.Activation == b.Activation && a.CIRAConfig == b.CIRAConfig && a.UserConsent == b.UserConsent
}
