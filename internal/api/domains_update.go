package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// updateDomain is RPS's PATCH /domains (UpdateDomainSuffix): profileName names the domain; every other field is
// optional and an empty one keeps the stored value. Unlike RPS, the resulting certificate, password and suffix
// are validated again whenever any of them changes (an old PFX is re-read from the secret store), so a PATCH
// cannot leave a domain that would fail activation. A non-empty version must be the one last read (409
// otherwise).
func (s *server) updateDomain(w http.ResponseWriter, r *http.Request, c *call) {
	var b domainBody
	if !decodeBody(w, r, &b) {
		return
	}
	errs := checkName(b.ProfileName)
	if b.ProvisioningCertStorageFormat != "" {
		if e := checkFormat(b.ProvisioningCertStorageFormat); e != nil {
			errs = append(errs, *e)
		}
	}
	if len(b.ProvisioningCertPassword) > maxPasswordLen {
		errs = append(errs, bodyField("provisioningCertPassword", "Password should not exceed 64 characters in length"))
	}
	suffix := b.DomainSuffix
	if suffix != "" {
		if _, err := domaincert.NormalizeSuffix(suffix); err != nil {
			errs = append(errs, suffixError(suffix, err))
		}
	}
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}

	cur, err := s.Domains.GetDomain(r.Context(), c.tenant, b.ProfileName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		domainNotFound(w, b.ProfileName)
		return
	case err != nil:
		s.fail500(w, c, err, "PATCH "+b.ProfileName)
		return
	case b.Version != "" && b.Version != version(cur):
		s.writeStoreError(w, c, ErrVersionConflict, cur, "PATCH "+b.ProfileName)
		return
	}
	if suffix == "" {
		suffix = cur.DomainSuffix
	}
	norm, _ := domaincert.NormalizeSuffix(suffix)
	newSecret := b.ProvisioningCert != "" || b.ProvisioningCertPassword != ""
	if !newSecret && norm == cur.DomainSuffix {
		writeJSON(w, http.StatusOK, renderDomain(cur)) // nothing stored changes
		return
	}

	path, err := secrets.Domain(c.tenant, cur.ProfileName)
	if err != nil {
		s.fail500(w, c, err, "PATCH "+b.ProfileName)
		return
	}
	pfxB64, password := b.ProvisioningCert, b.ProvisioningCertPassword
	if pfxB64 == "" || password == "" {
		old, err := s.Secrets.Get(r.Context(), path)
		if err != nil {
			c.logger().Error().Err(err).Str("domain", cur.ProfileName).Msg("reading the stored provisioning certificate failed")
			writeValidation(w, bodyField("provisioningCert", "The stored certificate of this domain cannot be read; "+
				"send provisioningCert and provisioningCertPassword together."))
			return
		}
		if pfxB64 == "" {
			pfxB64 = old[secrets.KeyPFX]
		}
		if password == "" {
			password = old[secrets.KeyPassword]
		}
	}
	pfx, cert, errs := s.validateCert(pfxB64, password, suffix)
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	next := metadata(c.tenant, cur.ProfileName, suffix, cert)
	var write func(context.Context) error
	if newSecret {
		write = func(ctx context.Context) error { return s.Secrets.Put(ctx, path, secretData(pfx, password)) }
	}
	updated, err := s.Domains.UpdateDomain(r.Context(), next, cur.CreatedAt, write)
	if err != nil {
		s.writeStoreError(w, c, err, next, "PATCH "+b.ProfileName)
		return
	}
	c.logger().Info().Str("domain", updated.ProfileName).Str("domain_suffix", updated.DomainSuffix).
		Time("expires_at", updated.ExpiresAt).Bool("certificate_replaced", newSecret).Msg("domain updated")
	writeJSON(w, http.StatusOK, renderDomain(updated))
}
