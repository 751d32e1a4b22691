package domaincert

import (
	"bytes"
	"crypto/x509"
	"errors"
	"slices"
)

// buildChain follows issuer links from leaf up to a self-signed root among certs, checking every signature on
// the way. The PFX's bag order does not matter; certificates off the path are ignored.
func buildChain(leaf *x509.Certificate, certs []*x509.Certificate) ([]*x509.Certificate, error) {
	if !slices.ContainsFunc(certs, selfSigned) {
		return nil, fail(ErrNoRoot, "The PFX does not contain a root certificate (a self-signed CA); export the full "+
			"chain including the root, whose hash is what AMT trusts.")
	}
	chain := []*x509.Certificate{leaf}
	// Each step adds a certificate not yet on the path, so the loop ends within len(certs) steps.
	for cur := leaf; !selfSigned(cur); {
		issuer, err := findIssuer(cur, certs, chain)
		if err != nil {
			return nil, err
		}
		chain = append(chain, issuer)
		cur = issuer
	}
	if len(chain) > MaxChainLen {
		return nil, fail(ErrChainTooLong, "The certificate chain has %d certificates; AMT provisioning supports at most %d "+
			"(leaf, up to two intermediates, root).", len(chain), MaxChainLen)
	}
	return chain, nil
}

// findIssuer returns the certificate of certs, not already on the path, whose subject is c's issuer and whose
// key verifies c's signature.
func findIssuer(c *x509.Certificate, certs, path []*x509.Certificate) (*x509.Certificate, error) {
	var sigErr error
	var sigIssuer *x509.Certificate
	for _, cand := range certs {
		if slices.Contains(path, cand) || !bytes.Equal(cand.RawSubject, c.RawIssuer) {
			continue
		}
		if err := c.CheckSignatureFrom(cand); err != nil {
			sigErr, sigIssuer = err, cand
			continue
		}
		return cand, nil
	}
	if sigErr != nil {
		return nil, fail(ErrChainBroken, "Certificate chain signature verification failed: %q is not validly signed by %q "+
			"(%v).", name(c), name(sigIssuer), sigErr)
	}
	return nil, fail(ErrChainBroken, "Certificate chain is broken: the PFX has no certificate for %q, the issuer of %q; "+
		"export the full chain.", c.Issuer.String(), name(c))
}

// selfSigned: subject equals issuer and the certificate's own key verifies its signature. A root signed with
// SHA-1 still counts: AMT trusts a root by its hash, never by its self-signature.
func selfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return false
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}
