package amtsim

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

// Provisioning certificate markers (protocol-rps-activation §3.3, §7.6): the AMT
// activation EKU, or the legacy OU marker that AMT firmware also honours.
var oidAMTActivation = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3}

const ouClientSetup = "Intel(R) Client Setup Certificate"

// maxChainLength is the longest chain AddNextCertInChain takes (RPS supports ≤ 4).
const maxChainLength = 4

// CertChainStatus values of IPS_HostBasedSetupService.
const (
	chainNotStarted = 0
	chainInProgress = 1
	chainComplete   = 2
)

// certChain is the chain being assembled by AddNextCertInChain: leaf first, root last.
type certChain struct {
	certs  []*x509.Certificate
	status int
}

// AddNextCertInChain return values (protocol-rps-activation §2.4).
const (
	certOK            = 0
	certInvalidParam  = 1
	certInvalidState  = 3
	certVerifyFailed  = 4
	certChainTooLong  = 5
	setupOK           = 0
	setupInvalidState = 2
	setupInvalidParam = 3
	setupAuthFailed   = 5
	signingRSASHA256  = 2
)

// addCert applies one AddNextCertInChain call; caller holds d.mu. A failed call resets
// the chain, so the sender must start again with the leaf.
func (d *Device) addCert(der []byte, isLeaf, isRoot bool) int {
	if d.mode == AdminControl {
		return certInvalidState
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil || (isLeaf && isRoot) {
		d.chain = certChain{}
		return certInvalidParam
	}
	rc := d.checkCert(cert, isLeaf, isRoot)
	if rc != certOK {
		d.chain = certChain{}
		return rc
	}
	if isLeaf {
		d.chain = certChain{certs: []*x509.Certificate{cert}, status: chainInProgress}
	} else {
		d.chain.certs = append(d.chain.certs, cert)
	}
	if isRoot {
		d.chain.status = chainComplete
	}
	d.changed()
	return certOK
}

func (d *Device) checkCert(cert *x509.Certificate, isLeaf, isRoot bool) int {
	now := d.cfg.Clock()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return certVerifyFailed
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() < 2048 {
		return certVerifyFailed
	}
	if isLeaf {
		if !hasActivationMarker(cert) || !domainMatches(cert.Subject.CommonName, d.suffix) {
			return certVerifyFailed
		}
		return certOK
	}
	if d.chain.status != chainInProgress {
		return certInvalidState
	}
	if len(d.chain.certs)+1 > maxChainLength {
		return certChainTooLong
	}
	prev := d.chain.certs[len(d.chain.certs)-1]
	if !cert.IsCA || prev.CheckSignatureFrom(cert) != nil {
		return certVerifyFailed
	}
	if isRoot {
		if !bytes.Equal(cert.RawSubject, cert.RawIssuer) || cert.CheckSignatureFrom(cert) != nil {
			return certVerifyFailed
		}
		if !d.trustedRoot(cert.Raw) {
			return certVerifyFailed
		}
	}
	return certOK
}

// trustedRoot reports whether the root's SHA-1, SHA-256 or SHA-384 digest is an active
// entry of the trusted hash table.
func (d *Device) trustedRoot(der []byte) bool {
	digests := rootDigests(der)
	for _, h := range d.hashes {
		if want, ok := digests[len(h.Hash)]; ok && h.Active && bytes.Equal(want, h.Hash) {
			return true
		}
	}
	return false
}

func hasActivationMarker(cert *x509.Certificate) bool {
	for _, oid := range cert.UnknownExtKeyUsage {
		if oid.Equal(oidAMTActivation) {
			return true
		}
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if ou == ouClientSetup {
			return true
		}
	}
	return false
}

// domainMatches applies AMT's provisioning-certificate domain rule as far as the docs
// describe it (§2.4: "AMT checks the certificate's CN domain against the DNS suffix"):
// the CN's domain (the CN without its host label when it has three or more labels,
// e.g. intel.vprodemo.com -> vprodemo.com, §7.6) must equal the device's DNS suffix or be
// a parent domain of it. The exact firmware rule is not in the sources [inference].
func domainMatches(cn, suffix string) bool {
	cn = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(cn, "*."), "."))
	suffix = strings.ToLower(strings.TrimSuffix(suffix, "."))
	if cn == "" || suffix == "" {
		return false
	}
	if cn == suffix {
		return true
	}
	domain := cn
	if labels := strings.Split(cn, "."); len(labels) >= 3 {
		domain = strings.Join(labels[1:], ".")
	}
	return suffix == domain || strings.HasSuffix(suffix, "."+domain)
}

// verifySetupSignature checks DigitalSignature = RSA PKCS#1 v1.5 over SHA-256 of
// fwNonce‖mcNonce with the chain's leaf key (protocol-rps-activation §2.4, §5).
func (d *Device) verifySetupSignature(mcNonce, sig []byte) bool {
	if d.chain.status != chainComplete || len(d.chain.certs) == 0 {
		return false
	}
	pub, ok := d.chain.certs[0].PublicKey.(*rsa.PublicKey)
	if !ok {
		return false
	}
	data := append(append(make([]byte, 0, 40), d.cfgNonce[:]...), mcNonce...)
	sum := sha256.Sum256(data)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}

// leafSubject is the leaf CN, for the log line of a successful ACM setup.
func (c *certChain) leafSubject() string {
	if len(c.certs) == 0 {
		return ""
	}
	return c.certs[0].Subject.CommonName
}
