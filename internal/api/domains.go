package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// Domain JSON as RPS has it (protocol-rps-activation §3.3, §3.6). The certificate and its password are accepted
// on POST/PATCH and never returned.
type domainBody struct {
	ProfileName                   string `json:"profileName"`
	DomainSuffix                  string `json:"domainSuffix"`
	ProvisioningCert              string `json:"provisioningCert"`
	ProvisioningCertPassword      string `json:"provisioningCertPassword"`
	ProvisioningCertStorageFormat string `json:"provisioningCertStorageFormat"`
	Version                       string `json:"version"`
}

type domainJSON struct {
	ProfileName                   string    `json:"profileName"`
	DomainSuffix                  string    `json:"domainSuffix"`
	ProvisioningCertStorageFormat string    `json:"provisioningCertStorageFormat"`
	ExpirationDate                time.Time `json:"expirationDate"`
	TenantID                      string    `json:"tenantId"`
	Version                       string    `json:"version"`
}

// Field limits: RPS's (§3.3), plus a length cap on the name since it becomes a secret path segment.
var profileNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

const maxPasswordLen = 64

// storageFormat: dm-manager always keeps the PFX as base64 text, which is what RPS calls "string"; the value
// sent on upload ("raw" or "string") is informational in RPS too.
const storageFormat = "string"

// version is RPS's opaque row version; here the row's creation time, which every update renews.
func version(d store.Domain) string { return strconv.FormatInt(d.CreatedAt.UnixMicro(), 10) }

func renderDomain(d store.Domain) domainJSON {
	return domainJSON{
		ProfileName: d.ProfileName, DomainSuffix: d.DomainSuffix, ProvisioningCertStorageFormat: storageFormat,
		ExpirationDate: d.ExpiresAt.UTC(), TenantID: d.TenantID, Version: version(d),
	}
}

func (s *server) listDomains(w http.ResponseWriter, r *http.Request, c *call) {
	top, skip, count, errs := pageParams(r)
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	ds, err := s.Domains.ListDomains(r.Context(), c.tenant)
	if err != nil {
		s.fail500(w, c, err, "GET domains")
		return
	}
	out := make([]domainJSON, 0, len(ds))
	for i := skip; i < len(ds) && i-skip < top; i++ { // i-skip: skip+top may overflow
		out = append(out, renderDomain(ds[i]))
	}
	if count {
		writeJSON(w, http.StatusOK, map[string]any{"data": out, "totalCount": len(ds)})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// pageParams reads RPS's paging: $top (default 25), $skip (default 0), $count (true/1 wraps the list).
func pageParams(r *http.Request) (top, skip int, count bool, errs []fieldError) {
	q := r.URL.Query()
	num := func(name string, def int) int {
		v := q.Get(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fieldError{Type: "field", Value: v, Path: name, Location: "query",
				Msg: name + " should be a non-negative integer"})
		}
		return n
	}
	top, skip = num("$top", 25), num("$skip", 0)
	if top > MaxTop {
		errs = append(errs, fieldError{Type: "field", Value: q.Get("$top"), Path: "$top", Location: "query",
			Msg: fmt.Sprintf("$top should be at most %d; page through longer lists with $skip", MaxTop)})
	}
	switch v := strings.ToLower(q.Get("$count")); v {
	case "", "false", "0":
	case "true", "1":
		count = true
	default:
		errs = append(errs, fieldError{Type: "field", Value: v, Path: "$count", Location: "query",
			Msg: "$count should be true or false"})
	}
	return top, skip, count, errs
}

func (s *server) getDomain(w http.ResponseWriter, r *http.Request, c *call) {
	name := r.PathValue("profileName")
	d, err := s.Domains.GetDomain(r.Context(), c.tenant, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		domainNotFound(w, name)
	case err != nil:
		s.fail500(w, c, err, "GET "+name)
	default:
		writeJSON(w, http.StatusOK, renderDomain(d))
	}
}

func (s *server) createDomain(w http.ResponseWriter, r *http.Request, c *call) {
	var b domainBody
	if !decodeBody(w, r, &b) {
		return
	}
	errs := checkName(b.ProfileName)
	errs = append(errs, checkRequired(b)...)
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	pfx, cert, errs := s.validateCert(b.ProvisioningCert, b.ProvisioningCertPassword, b.DomainSuffix)
	if len(errs) > 0 {
		writeValidation(w, errs...)
		return
	}
	path, err := secrets.Domain(c.tenant, b.ProfileName)
	if err != nil {
		s.fail500(w, c, err, "POST "+b.ProfileName)
		return
	}
	d := metadata(c.tenant, b.ProfileName, b.DomainSuffix, cert)
	created, err := s.Domains.CreateDomain(r.Context(), d, func(ctx context.Context) error {
		return s.Secrets.Put(ctx, path, secretData(pfx, b.ProvisioningCertPassword))
	})
	if err != nil {
		s.writeStoreError(w, c, err, d, "POST "+b.ProfileName)
		return
	}
	c.logger().Info().Str("domain", created.ProfileName).Str("domain_suffix", created.DomainSuffix).
		Time("expires_at", created.ExpiresAt).Str("root_sha256", created.RootSHA256).Msg("domain created")
	writeJSON(w, http.StatusCreated, renderDomain(created))
}

func (s *server) deleteDomain(w http.ResponseWriter, r *http.Request, c *call) {
	name := r.PathValue("profileName")
	path, err := secrets.Domain(c.tenant, name)
	if err != nil {
		domainNotFound(w, name) // a name that cannot be a secret path segment cannot have been created
		return
	}
	err = s.Domains.RemoveDomain(r.Context(), c.tenant, name, func(ctx context.Context) error {
		return s.Secrets.Delete(ctx, path)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		domainNotFound(w, name)
	case err != nil:
		s.fail500(w, c, err, "DELETE "+name)
	default:
		c.logger().Info().Str("domain", name).Msg("domain deleted")
		w.WriteHeader(http.StatusNoContent)
	}
}

func checkName(name string) []fieldError {
	switch {
	case name == "":
		return []fieldError{bodyField("profileName", "AMT Domain profile name is required")}
	case !profileNameRE.MatchString(name):
		e := bodyField("profileName", "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_), "+
			"up to 64 characters")
		e.Value = name
		return []fieldError{e}
	}
	return nil
}

// checkRequired checks the POST fields other than the name, all at once as express-validator does.
func checkRequired(b domainBody) []fieldError {
	var errs []fieldError
	if b.ProvisioningCertPassword == "" {
		errs = append(errs, bodyField("provisioningCertPassword", "Provisioning Cert Password is required"))
	} else if len(b.ProvisioningCertPassword) > maxPasswordLen {
		errs = append(errs, bodyField("provisioningCertPassword", "Password should not exceed 64 characters in length"))
	}
	if b.DomainSuffix == "" {
		errs = append(errs, bodyField("domainSuffix", "Domain suffix name is required"))
	} else if _, err := domaincert.NormalizeSuffix(b.DomainSuffix); err != nil {
		errs = append(errs, suffixError(b.DomainSuffix, err))
	}
	if b.ProvisioningCert == "" {
		errs = append(errs, bodyField("provisioningCert", "Provisioning certificate is required"))
	}
	if b.ProvisioningCertStorageFormat == "" {
		errs = append(errs, bodyField("provisioningCertStorageFormat", "Provisioning Cert Storage Format is required"))
	} else if e := checkFormat(b.ProvisioningCertStorageFormat); e != nil {
		errs = append(errs, *e)
	}
	return errs
}

func checkFormat(f string) *fieldError {
	if f == "raw" || f == "string" {
		return nil
	}
	e := bodyField("provisioningCertStorageFormat", "Provisioning Cert Storage Format should be either 'raw' or 'string'")
	e.Value = f
	return &e
}

func suffixError(suffix string, err error) fieldError {
	e := bodyField("domainSuffix", clipIn(err.Error(), suffix))
	e.Value = suffix
	return e
}

// validateCert decodes the base64 PFX and runs domaincert.Validate, reporting a failure on the field the user
// has to change.
func (s *server) validateCert(b64, password, suffix string) ([]byte, *domaincert.Cert, []fieldError) {
	pfx, err := decodeBase64(b64)
	if err != nil {
		return nil, nil, []fieldError{bodyField("provisioningCert", "Provisioning certificate must be the base64 "+
			"encoding of the PFX (PKCS#12) file: "+err.Error())}
	}
	cert, err := domaincert.Validate(pfx, password, suffix, s.Now())
	if err != nil {
		path := "provisioningCert"
		switch {
		case errors.Is(err, domaincert.ErrWrongPassword):
			path = "provisioningCertPassword"
		case errors.Is(err, domaincert.ErrSuffixMismatch), errors.Is(err, domaincert.ErrInvalidSuffix):
			return nil, nil, []fieldError{suffixError(suffix, err)}
		}
		return nil, nil, []fieldError{bodyField(path, err.Error())}
	}
	return pfx, cert, nil
}

// decodeBase64 accepts standard base64 with or without padding, ignoring line breaks (as in PEM-style dumps).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return b, nil
		}
		return nil, err
	}
	return b, nil
}

// metadata is what the store keeps of a validated certificate; suffix has passed NormalizeSuffix already.
func metadata(tenant, name, suffix string, cert *domaincert.Cert) store.Domain {
	suffix, _ = domaincert.NormalizeSuffix(suffix)
	return store.Domain{TenantID: tenant, ProfileName: name, DomainSuffix: suffix, ExpiresAt: cert.NotAfter,
		LeafSHA256: cert.LeafSHA256, RootSHA256: cert.RootSHA256}
}

// secretData is the domain secret of contracts.md: {pfx (base64), password}.
func secretData(pfx []byte, password string) map[string]string {
	return map[string]string{secrets.KeyPFX: base64.StdEncoding.EncodeToString(pfx), secrets.KeyPassword: password}
}

func domainNotFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("Domain profile %s Not Found", clip(name)))
}

// writeStoreError maps a failed domain write to its answer.
func (s *server) writeStoreError(w http.ResponseWriter, c *call, err error, d store.Domain, op string) {
	var dup *store.DuplicateError
	switch {
	case errors.As(err, &dup) && dup.Field == "domain_suffix":
		writeError(w, http.StatusConflict, fmt.Sprintf("Domain %s ID or Suffix already exists: domain suffix %q is "+
			"already used by another domain of this project.", d.ProfileName, d.DomainSuffix))
	case errors.Is(err, store.ErrDuplicate):
		writeError(w, http.StatusConflict, fmt.Sprintf("Domain %s ID or Suffix already exists: the profile name %q "+
			"is already used in this project.", d.ProfileName, d.ProfileName))
	case errors.Is(err, ErrVersionConflict):
		writeError(w, http.StatusConflict, fmt.Sprintf("Domain %s was changed by another request since it was read; "+
			"GET it again and retry with the new version.", d.ProfileName))
	case errors.Is(err, store.ErrNotFound):
		domainNotFound(w, d.ProfileName)
	case errors.Is(err, store.ErrUnknownTenant):
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "This project is not set up in dm-manager yet (its tenant is "+
			"still being created); retry in a minute.")
	default:
		s.fail500(w, c, err, op)
	}
}

// fail500 logs the cause and answers 500 with RPS's text.
func (s *server) fail500(w http.ResponseWriter, c *call, err error, op string) {
	c.logger().Error().Err(err).Str("operation", op).Msg("domain operation failed")
	writeError(w, http.StatusInternalServerError, "Operation failed: "+op)
}
