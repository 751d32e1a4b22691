package rps

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// normalizeSuffix is a DNS suffix in comparable form: trimmed, lower case, without the trailing dot.
func normalizeSuffix(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

// provisioningCert runs the ACM pre-flight (§2.1 step 8, §2.4 steps 1–3) before anything is sent to AMT: the
// device reports root hashes and a DNS suffix, the suffix agrees with the host's in Inventory, a domain of the
// tenant covers it, its PFX opens and validates, and the device trusts its root.
func (o *op) provisioningCert(ctx context.Context) (*domaincert.Cert, error) {
	p := o.p
	if len(p.CertHashes) == 0 {
		return nil, refuse("Device %s activation failed. Missing certificate hashes from the device.", p.UUID)
	}
	suffix := normalizeSuffix(p.FQDN)
	if suffix == "" {
		return nil, refuse("Device %s activation failed. Missing DNS Suffix.", p.UUID)
	}
	if want := normalizeSuffix(o.host.AmtDNSSuffix); want != "" && want != suffix {
		return nil, refuse("Device %s activation failed. The device reports DNS suffix %q but host %s has AMT DNS "+
			"suffix %q in Inventory; set the device's suffix (MEBx or DHCP option 15) or correct the host's AMT DNS "+
			"suffix so they agree.", p.UUID, suffix, o.host.ResourceID, want)
	}
	dom, err := o.findDomain(ctx, suffix)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse("Device %s activation failed. Specified AMT domain suffix: %s does not match list of "+
			"available AMT domain suffixes.", p.UUID, p.FQDN)
	}
	if err != nil {
		return nil, refuse("Failed to get amt domain certificate from database (%s)", err.Error())
	}
	cert, err := o.loadDomainCert(ctx, dom)
	if err != nil {
		return nil, err
	}
	if !cert.TrustedBy(p.CertHashes) {
		return nil, refuse("Invalid domain certificate, hash does not exists in list of trusted root certificates on " +
			"AMT")
	}
	o.log.Info().Str("domain", dom.ProfileName).Str("root_sha256", cert.RootSHA256).Msg("provisioning certificate chosen")
	return cert, nil
}

// findDomain walks the suffix from the longest form down to its last two labels, first hit wins (§3.3).
func (o *op) findDomain(ctx context.Context, suffix string) (store.Domain, error) {
	labels := strings.Split(suffix, ".")
	for i := 0; len(labels)-i >= 2; i++ {
		d, err := o.e.cfg.Store.GetDomainBySuffix(ctx, o.tenant, strings.Join(labels[i:], "."))
		if !errors.Is(err, store.ErrNotFound) {
			return d, err
		}
	}
	return store.Domain{}, store.ErrNotFound
}

func (o *op) loadDomainCert(ctx context.Context, dom store.Domain) (*domaincert.Cert, error) {
	const extract = "Failed to extract domain certificate"
	path, err := secrets.Domain(o.tenant, dom.ProfileName)
	if err != nil {
		return nil, refuse("%s (%s)", extract, err.Error())
	}
	m, err := o.e.cfg.Secrets.Get(ctx, path)
	if errors.Is(err, secrets.ErrUnavailable) {
		return nil, err
	}
	if err != nil {
		return nil, refuse("%s: the PFX of domain %s could not be read (%s); upload the domain again.", extract,
			dom.ProfileName, err.Error())
	}
	pfx, err := base64.StdEncoding.DecodeString(m[secrets.KeyPFX])
	if err != nil {
		return nil, refuse("%s: the stored PFX of domain %s is not base64; upload the domain again.", extract, dom.ProfileName)
	}
	cert, err := domaincert.Validate(pfx, m[secrets.KeyPassword], dom.DomainSuffix, o.e.cfg.Now())
	if err != nil {
		return nil, refuse("%s: %s", extract, err.Error())
	}
	return cert, nil
}

// sendChain sends the provisioning chain leaf first: the leaf with IsLeaf, the middle ones with neither flag, the
// root last with IsRoot; a one-certificate chain goes as leaf only (§2.4 step 6).
func (o *op) sendChain(ctx context.Context, cert *domaincert.Cert) error {
	chain := cert.Chain()
	for i, der := range chain {
		isLeaf, isRoot := i == 0, i == len(chain)-1 && len(chain) > 1
		err := o.step(ctx, "add_cert", func(ctx context.Context) error {
			return o.amt.AddNextCertInChain(ctx, der, isLeaf, isRoot)
		})
		if err != nil {
			return fail("Device "+o.p.UUID+" activation failed. Error while adding the certificates to AMT.", err)
		}
	}
	return nil
}

// signedNonce reads AMT's configuration nonce and signs it with a fresh console nonce (§2.4 steps 5 and 7).
func (o *op) signedNonce(ctx context.Context, cert *domaincert.Cert) (mc, sig []byte, mode int, err error) {
	var hbs amt.HostBasedSetupService
	err = o.step(ctx, "setup_service", func(ctx context.Context) error {
		var err error
		hbs, err = o.amt.HostBasedSetupService(ctx)
		return err
	})
	if err != nil {
		return nil, nil, 0, fail("Failed to read the host based setup service.", err)
	}
	fw, err := hbs.FirmwareNonce()
	if err != nil {
		return nil, nil, 0, fail("Failed to read the host based setup service.", err)
	}
	if mc, err = amt.NewMcNonce(); err == nil {
		sig, err = amt.SignNonces(cert.Key, fw, mc)
	}
	return mc, sig, hbs.CurrentControlMode, err
}

// oneShot runs Setup, AdminSetup or UpgradeClientToAdmin, which are never re-sent (§1.6): when AMT does not
// answer in time the mode is read back instead (CHECK_ACTIVATION_ON_AMT, §2.3 step 4).
func (o *op) oneShot(ctx context.Context, name string, want store.ControlMode, call func(context.Context) error) error {
	err := o.step(ctx, name, call)
	var timeout *stepTimeoutError
	if !errors.As(err, &timeout) {
		return err
	}
	var hbs amt.HostBasedSetupService
	if cerr := o.step(ctx, "check_activation", func(ctx context.Context) error {
		var err error
		hbs, err = o.amt.HostBasedSetupService(ctx)
		return err
	}); cerr == nil && hbs.CurrentControlMode == int(want) {
		o.log.Info().Str("step", name).Msg("no answer in time, but AMT reports the new control mode")
		return nil
	}
	return err
}
