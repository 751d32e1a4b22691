package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/dmrm/dm-manager/internal/store"
)

// Profiles as RPS shows them (protocol-rps-activation §3.1), read-only but for the redirection features and the TLS
// mode: dm-manager creates a tenant's <tenant>_ccm and <tenant>_acm profiles itself (§3.7) and a tenant admin
// chooses, per profile, which of KVM, SOL and IDE-R activation enables (§2.8) and whether AMT gets a TLS certificate
// (§2.10). A new profile has EMF's values: KVM and SOL on, IDE-R off, and no TLS mode.

type profileJSON struct {
	ProfileName    string   `json:"profileName"`
	Activation     string   `json:"activation"` // ccmactivate or acmactivate
	CIRAConfigName string   `json:"ciraConfigName"`
	UserConsent    string   `json:"userConsent"` // None, KVM or All
	KVMEnabled     bool     `json:"kvmEnabled"`
	SOLEnabled     bool     `json:"solEnabled"`
	IDEREnabled    bool     `json:"iderEnabled"`
	TLSMode        *int     `json:"tlsMode"` // null: none (RPS's representation)
	Tags           []string `json:"tags"`
	TenantID       string   `json:"tenantId"`
}

// profilePatch is the PATCH body: profileName names the profile; an absent feature keeps its value. Other RPS
// profile fields are refused (unknown fields), because dm-manager sets them itself.
type profilePatch struct {
	ProfileName string `json:"profileName"`
	KVMEnabled  *bool  `json:"kvmEnabled"`
	SOLEnabled  *bool  `json:"solEnabled"`
	IDEREnabled *bool  `json:"iderEnabled"`
	// TLSMode: 0 none, 2 server authentication, 4 mutual authentication, both keeping non-TLS connections; RPS's 1
	// and 3 are refused.
	TLSMode *int `json:"tlsMode"`
}

func renderProfile(p store.Profile) profileJSON {
	act := "ccmactivate"
	if p.Activation == store.ActivationACM {
		act = "acmactivate"
	}
	consent := map[store.UserConsent]string{store.ConsentNone: "None", store.ConsentKVM: "KVM"}[p.UserConsent]
	if consent == "" {
		consent = "All"
	}
	out := profileJSON{ProfileName: p.Name, Activation: act, CIRAConfigName: p.CIRAConfig, UserConsent: consent,
		KVMEnabled: p.KVM, SOLEnabled: p.SOL, IDEREnabled: p.IDER, Tags: p.Tags, TenantID: p.TenantID}
	if p.TLSMode != store.TLSModeNone {
		m := int(p.TLSMode)
		out.TLSMode = &m
	}
	return out
}

func (s *server) listProfiles(w http.ResponseWriter, r *http.Request, c *call) {
	ps, err := s.Profiles.ListProfiles(r.Context(), c.tenant)
	if err != nil {
		s.profileFail(w, c, err, "GET profiles")
		return
	}
	out := make([]profileJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, renderProfile(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getProfile(w http.ResponseWriter, r *http.Request, c *call) {
	name := r.PathValue("profileName")
	p, err := s.Profiles.GetProfile(r.Context(), c.tenant, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		profileNotFound(w, name)
	case err != nil:
		s.profileFail(w, c, err, "GET "+name)
	default:
		writeJSON(w, http.StatusOK, renderProfile(p))
	}
}

// updateProfile sets the redirection features of one of the tenant's profiles; they apply to activations that
// start afterwards (a device already activated gets them at its next activation or reconfiguration).
func (s *server) updateProfile(w http.ResponseWriter, r *http.Request, c *call) {
	var b profilePatch
	if !decodeStrictBody(w, r, &b) {
		return
	}
	if b.ProfileName == "" {
		writeValidation(w, bodyField("profileName", "profileName is required"))
		return
	}
	if b.TLSMode != nil && !store.TLSMode(*b.TLSMode).Valid() {
		writeValidation(w, bodyField("tlsMode", "tlsMode must be 0 (none), 2 (server authentication) or 4 (mutual "+
			"authentication); 1 and 3 refuse non-TLS connections, and the CIRA gateway reaches AMT on port 16992"))
		return
	}
	cur, err := s.Profiles.GetProfile(r.Context(), c.tenant, b.ProfileName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		profileNotFound(w, b.ProfileName)
		return
	case err != nil:
		s.profileFail(w, c, err, "PATCH "+b.ProfileName)
		return
	}
	f := cur.Features
	for _, set := range []struct {
		v   *bool
		dst *bool
	}{{b.KVMEnabled, &f.KVM}, {b.SOLEnabled, &f.SOL}, {b.IDEREnabled, &f.IDER}} {
		if set.v != nil {
			*set.dst = *set.v
		}
	}
	if b.TLSMode != nil {
		f.TLSMode = store.TLSMode(*b.TLSMode)
	}
	p, err := s.Profiles.SetProfileFeatures(r.Context(), c.tenant, cur.Name, f)
	switch {
	case errors.Is(err, store.ErrNotFound):
		profileNotFound(w, b.ProfileName)
	case err != nil:
		s.profileFail(w, c, err, "PATCH "+b.ProfileName)
	default:
		c.logger().Info().Str("profile", p.Name).Bool("kvm", f.KVM).Bool("sol", f.SOL).Bool("ider", f.IDER).
			Int("tls_mode", int(f.TLSMode)).Msg("profile features set")
		writeJSON(w, http.StatusOK, renderProfile(p))
	}
}

func profileNotFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("AMT profile %s Not Found", clip(name)))
}

func (s *server) profileFail(w http.ResponseWriter, c *call, err error, op string) {
	c.logger().Error().Err(err).Str("operation", op).Msg("profile operation failed")
	writeError(w, http.StatusInternalServerError, "Operation failed: "+op)
}
