package domaincert

import (
	"errors"
	"fmt"
)

// Kinds of validation failure. Every error returned by Validate is an *Error whose Kind is one of these, so
// callers can branch with errors.Is and show Error() to the user as is.
var (
	ErrNotPFX        = errors.New("not a readable PKCS#12 (PFX) file")
	ErrWrongPassword = errors.New("wrong PFX password")
	// ErrTooManyIterations: the PFX asks for more key-derivation iterations than MaxKDFIterations.
	ErrTooManyIterations = errors.New("PFX key derivation iteration count too large")
	ErrNoCertificate     = errors.New("no certificate in the PFX")
	ErrNoPrivateKey      = errors.New("no private key in the PFX")
	ErrNotRSA            = errors.New("not an RSA key")
	ErrKeyMismatch       = errors.New("private key does not match the leaf certificate")
	ErrNoRoot            = errors.New("no self-signed root certificate in the PFX")
	ErrChainBroken       = errors.New("certificate chain does not verify")
	ErrChainTooLong      = errors.New("certificate chain too long")
	ErrWeakKey           = errors.New("key shorter than 2048 bits")
	ErrMissingAMTMarker  = errors.New("leaf is not an AMT provisioning certificate")
	ErrExpired           = errors.New("certificate expired")
	ErrNotYetValid       = errors.New("certificate not yet valid")
	ErrNoCommonName      = errors.New("leaf certificate has no common name")
	ErrInvalidSuffix     = errors.New("invalid DNS suffix")
	ErrSuffixMismatch    = errors.New("DNS suffix does not match the certificate")
)

// Error is a validation failure: Kind for programs, Msg (what is wrong, with dates or names, and what to do) for
// people. Neither ever holds the password or key material.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrExpired) and friends work.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
