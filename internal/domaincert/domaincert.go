// Package domaincert validates a tenant's AMT domain provisioning certificate (a PFX with its password and the
// DNS suffix it is registered for) and extracts what ACM activation needs: the chain in the order AMT takes it,
// the root fingerprints devices report, and the RSA key that signs the AdminSetup nonce
// (protocol-rps-activation §2.4, §3.3).
//
// The checks are those RPS applies at upload (§3.3) with AMT's own acceptance rules where they are wider
// (the OU marker, the suffix rule in suffix.go), plus an order-independent chain build: the leaf is the
// certificate the private key belongs to, not whichever bag comes first.
package domaincert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/md5" //nolint:gosec // AMT reports MD5 root hashes; used for matching, not for security
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // AMT reports SHA-1 root hashes; used for matching, not for security
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// OIDAMTProvisioning is the extended key usage marking an Intel AMT provisioning certificate.
var OIDAMTProvisioning = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3}

// OUAMTProvisioning is the alternative marker AMT accepts: this exact (case-sensitive) subject OU.
const OUAMTProvisioning = "Intel(R) Client Setup Certificate"

const (
	// MinKeyBits is AMT's minimum RSA modulus (RPS HEAD rejects smaller keys at upload).
	MinKeyBits = 2048
	// MaxChainLen is the longest chain (leaf, intermediates, root) RPS sends through AddNextCertInChain.
	MaxChainLen = 4
)

// Marker says how the leaf is marked as an AMT provisioning certificate.
type Marker string

const (
	MarkerEKU Marker = "eku" // extended key usage 2.16.840.1.113741.1.2.3
	MarkerOU  Marker = "ou"  // subject OU "Intel(R) Client Setup Certificate"
)

// Cert is a validated provisioning certificate.
type Cert struct {
	Leaf          []byte   // DER
	Intermediates [][]byte // DER, from the one that issued the leaf up to the one the root issued
	Root          []byte   // DER of the self-signed root; the same bytes as Leaf for a self-signed leaf
	Key           *rsa.PrivateKey

	CommonName string // leaf subject CN
	Marker     Marker
	NotBefore  time.Time // latest notBefore in the chain
	NotAfter   time.Time // earliest notAfter in the chain (RPS expirationDate)

	LeafSHA256 string // lower-case hex of SHA-256(leaf DER)
	RootSHA1   string // lower-case hex of the root's digests; MatchesRootHash compares every length devices report
	RootSHA256 string
	RootSHA384 string
}

// Chain returns the certificates in the order AddNextCertInChain sends them: leaf first, root last; a
// self-signed leaf is sent once.
func (c *Cert) Chain() [][]byte {
	out := append([][]byte{c.Leaf}, c.Intermediates...)
	if !bytes.Equal(c.Root, c.Leaf) {
		out = append(out, c.Root)
	}
	return out
}

// MatchesRootHash reports whether a certificate hash reported by the device (hex, any case) is this root's digest
// of the same length: 32 hex digits compare with MD5, 40 with SHA-1, 64 with SHA-256, 96 with SHA-384 and 128 with
// SHA-512, every length AMT's GetCertificateHashes reports (protocol-rps-activation §1.5, §2.4 step 3).
func (c *Cert) MatchesRootHash(h string) bool {
	h = strings.ToLower(strings.TrimSpace(h))
	var sum []byte
	switch len(h) {
	case 2 * md5.Size:
		d := md5.Sum(c.Root) //nolint:gosec // AMT reports MD5 root hashes; used for matching, not for security
		sum = d[:]
	case 2 * sha1.Size:
		d := sha1.Sum(c.Root) //nolint:gosec // as above, SHA-1
		sum = d[:]
	case 2 * sha256.Size:
		d := sha256.Sum256(c.Root)
		sum = d[:]
	case 2 * sha512.Size384:
		d := sha512.Sum384(c.Root)
		sum = d[:]
	case 2 * sha512.Size:
		d := sha512.Sum512(c.Root)
		sum = d[:]
	default:
		return false
	}
	return h == hex.EncodeToString(sum)
}

// TrustedBy reports whether any of the device's root hashes (certHashes) is this root's (MatchesRootHash).
func (c *Cert) TrustedBy(hashes []string) bool {
	return slices.ContainsFunc(hashes, c.MatchesRootHash)
}

// Validate decodes pfx with password and checks it can provision AMT devices whose DNS suffix is
// domainSuffix, at time now. Checks, in order: the PFX's key-derivation cost is bounded (MaxKDFIterations); it
// opens; the key is RSA and belongs to one of its certificates (the leaf); a self-signed root is present and
// the leaf chains to it by issuer and signature; the chain has at most MaxChainLen certificates, all RSA of at
// least MinKeyBits; the leaf carries the AMT marker; every certificate is valid at now; the leaf CN matches
// domainSuffix (SuffixMatches). Any failure is an *Error; nothing else is returned.
func Validate(pfx []byte, password, domainSuffix string, now time.Time) (*Cert, error) {
	key, certs, err := decode(pfx, password)
	if err != nil {
		return nil, err
	}
	leaf := findLeaf(key, certs)
	if leaf == nil {
		return nil, fail(ErrKeyMismatch, "The private key in the PFX does not belong to any of its %d certificate(s); "+
			"export the provisioning certificate together with its own private key.", len(certs))
	}
	chain, err := buildChain(leaf, certs)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(chain); err != nil {
		return nil, err
	}
	marker, err := amtMarker(leaf)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := checkValidity(chain, now)
	if err != nil {
		return nil, err
	}
	if leaf.Subject.CommonName == "" {
		return nil, fail(ErrNoCommonName, "The provisioning certificate (leaf) has no Common Name (CN) in its subject; "+
			"AMT compares the CN's domain with the device's DNS suffix.")
	}
	if err := checkSuffix(leaf.Subject.CommonName, domainSuffix); err != nil {
		return nil, err
	}

	root := chain[len(chain)-1]
	c := &Cert{
		Leaf: leaf.Raw, Root: root.Raw, Key: key,
		CommonName: leaf.Subject.CommonName, Marker: marker, NotBefore: notBefore, NotAfter: notAfter,
	}
	if len(chain) > 2 {
		for _, ic := range chain[1 : len(chain)-1] {
			c.Intermediates = append(c.Intermediates, ic.Raw)
		}
	}
	leafSum := sha256.Sum256(leaf.Raw)
	sum1, sum256, sum384 := sha1.Sum(root.Raw), sha256.Sum256(root.Raw), sha512.Sum384(root.Raw) //nolint:gosec
	c.LeafSHA256 = hex.EncodeToString(leafSum[:])
	c.RootSHA1, c.RootSHA256 = hex.EncodeToString(sum1[:]), hex.EncodeToString(sum256[:])
	c.RootSHA384 = hex.EncodeToString(sum384[:])
	return c, nil
}

// decode opens the PFX, after bounding its key-derivation cost (limits.go). go-pkcs12 reports a missing key or
// certificate only as text, so those two are told apart by message; the tests pin that behaviour for the
// version in go.mod.
func decode(pfx []byte, password string) (*rsa.PrivateKey, []*x509.Certificate, error) {
	if len(pfx) == 0 {
		return nil, nil, fail(ErrNotPFX, "The provisioning certificate is empty; upload the base64 of the .pfx/.p12 file.")
	}
	if err := checkIterations(pfx); err != nil {
		return nil, nil, err
	}
	priv, first, rest, err := pkcs12.DecodeChain(pfx, password)
	if err != nil {
		var notImpl pkcs12.NotImplementedError
		switch msg := err.Error(); {
		case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
			return nil, nil, fail(ErrWrongPassword, "Unable to decrypt the provisioning certificate: the password is not "+
				"correct for this PFX.")
		case errors.As(err, &notImpl):
			return nil, nil, fail(ErrNotPFX, "The provisioning certificate uses a PKCS#12 feature that is not supported "+
				"(%s); re-export it with AES-256/SHA-256 or 3DES/SHA-1 encryption.", strings.TrimPrefix(msg, "pkcs12: "))
		case strings.Contains(msg, "private key missing"):
			return nil, nil, fail(ErrNoPrivateKey, "The PFX holds no private key; export the provisioning certificate "+
				"together with its private key.")
		case strings.Contains(msg, "certificate missing"):
			return nil, nil, fail(ErrNoCertificate, "The PFX holds no certificate; export the provisioning certificate "+
				"with its chain.")
		default:
			return nil, nil, fail(ErrNotPFX, "Unable to read the provisioning certificate as a PKCS#12 (PFX) file (%s); "+
				"upload the base64 of the .pfx/.p12 file and check its password.", strings.TrimPrefix(msg, "pkcs12: "))
		}
	}
	key, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fail(ErrNotRSA, "The private key in the PFX is %s; AMT provisioning certificates need an RSA key.",
			keyKind(priv))
	}
	return key, append([]*x509.Certificate{first}, rest...), nil
}

// findLeaf returns the certificate whose public key is key's, wherever it sits in the PFX.
func findLeaf(key *rsa.PrivateKey, certs []*x509.Certificate) *x509.Certificate {
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&key.PublicKey) {
			return c
		}
	}
	return nil
}

// checkKeys requires RSA keys of at least MinKeyBits all along the chain.
func checkKeys(chain []*x509.Certificate) error {
	for _, c := range chain {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return fail(ErrNotRSA, "Certificate %q has a %s key; every certificate of an AMT provisioning chain must be RSA.",
				name(c), keyKind(c.PublicKey))
		}
		if bits := pub.N.BitLen(); bits < MinKeyBits {
			return fail(ErrWeakKey, "Certificate %q has a %d-bit RSA key; AMT needs at least %d bits.",
				name(c), bits, MinKeyBits)
		}
	}
	return nil
}

// amtMarker accepts either marker AMT recognises (Intel AMT SDK, "Acquiring an Intel vPro certificate"): the EKU
// OID, or the exact OU. RPS HEAD accepts only the OID; commercial provisioning certificates carry the OID.
func amtMarker(leaf *x509.Certificate) (Marker, error) {
	if slices.ContainsFunc(leaf.UnknownExtKeyUsage, func(o asn1.ObjectIdentifier) bool { return o.Equal(OIDAMTProvisioning) }) {
		return MarkerEKU, nil
	}
	if slices.Contains(leaf.Subject.OrganizationalUnit, OUAMTProvisioning) {
		return MarkerOU, nil
	}
	return "", fail(ErrMissingAMTMarker, "Certificate %q is not an AMT provisioning certificate: its extended key usage "+
		"lacks the Intel AMT provisioning OID 2.16.840.1.113741.1.2.3 and its subject has no OU %q.", name(leaf), OUAMTProvisioning)
}

// checkValidity requires every certificate to be valid at now and returns the window all of them share.
func checkValidity(chain []*x509.Certificate, now time.Time) (notBefore, notAfter time.Time, err error) {
	for _, c := range chain {
		if now.Before(c.NotBefore) {
			return time.Time{}, time.Time{}, fail(ErrNotYetValid, "Certificate %q is not valid yet: its validity starts at %s "+
				"(now %s).", name(c), stamp(c.NotBefore), stamp(now))
		}
		if now.After(c.NotAfter) {
			return time.Time{}, time.Time{}, fail(ErrExpired, "Certificate %q expired at %s (now %s); renew the provisioning "+
				"certificate and upload the new PFX.", name(c), stamp(c.NotAfter), stamp(now))
		}
		if notBefore.IsZero() || c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if notAfter.IsZero() || c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	return notBefore.UTC(), notAfter.UTC(), nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// name identifies a certificate in messages by its subject.
func name(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return s
	}
	return "serial " + c.SerialNumber.String()
}

func keyKind(k any) string {
	switch k.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PublicKey, *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", k)
	}
}
