package domaincert_test

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
)

// FuzzValidate: arbitrary bytes and passwords never panic, and every failure is a typed *Error. The iteration
// bound is lowered to twice the seeds' 2048: mutated counts up to the real bound would make each run take
// seconds under coverage instrumentation (limits_test.go covers the bound itself).
func FuzzValidate(f *testing.F) {
	f.Cleanup(domaincert.SetKDFIterationLimit(4096))
	p := certtest.New(f)
	certs := []*x509.Certificate{p.Leaf, p.Intermediate, p.Root}
	f.Add(certtest.Encode(f, pkcs12.Modern, p.LeafKey, certs, certtest.Password), certtest.Password, certtest.Suffix)
	f.Add(certtest.Encode(f, pkcs12.LegacyRC2, p.LeafKey, certs, "x"), "x", "a.example.com")
	f.Add(certtest.Encode(f, pkcs12.Passwordless, p.LeafKey, certs, ""), "", certtest.Suffix)
	f.Add([]byte{0x30, 0x82, 0x00, 0x00}, "", "example.com")
	f.Add([]byte{}, "pw", "")
	now := time.Now()
	f.Fuzz(func(t *testing.T, pfx []byte, password, suffix string) {
		c, err := domaincert.Validate(pfx, password, suffix, now)
		if err == nil {
			if c == nil || c.Key == nil || len(c.Root) == 0 {
				t.Fatalf("success without a complete result")
			}
			return
		}
		var verr *domaincert.Error
		if !errors.As(err, &verr) || verr.Kind == nil {
			t.Fatalf("untyped error %T: %v", err, err)
		}
	})
}
