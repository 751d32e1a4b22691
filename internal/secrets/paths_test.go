package secrets

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

const (
	tenantA = "0b5f4c2e-6a9d-4e8f-9c1b-2d3e4f5a6b7c"
	guidA   = "4c4c4544-0035-3010-8030-c2c04f4a4633"
)

func TestPathHelpers(t *testing.T) {
	tests := []struct {
		name string
		fn   func() (string, error)
		want string
		err  string
	}{
		{"tenant prefix", func() (string, error) { return TenantPrefix(tenantA) }, "tenants/" + tenantA + "/", ""},
		{"amt password", func() (string, error) { return TenantAMTPassword(tenantA) }, "tenants/" + tenantA + "/amt-password", ""},
		{"device", func() (string, error) { return Device(tenantA, guidA) }, "tenants/" + tenantA + "/devices/" + guidA, ""},
		{"domain lower-cased", func() (string, error) { return Domain(tenantA, "Corp-Domain_1") }, "tenants/" + tenantA + "/domains/corp-domain_1", ""},
		{"empty tenant", func() (string, error) { return TenantAMTPassword("") }, "", `tenant "" is not a lower-case canonical UUID`},
		{"upper-case tenant", func() (string, error) { return TenantPrefix(strings.ToUpper(tenantA)) }, "", "not a lower-case canonical UUID"},
		{"braced tenant", func() (string, error) { return TenantPrefix("{" + tenantA + "}") }, "", "not a lower-case canonical UUID"},
		{"traversal tenant", func() (string, error) { return TenantPrefix("..") }, "", "not a lower-case canonical UUID"},
		{"bad guid", func() (string, error) { return Device(tenantA, "not-a-guid") }, "", `device GUID "not-a-guid"`},
		{"domain traversal", func() (string, error) { return Domain(tenantA, "..") }, "", `".." is not allowed`},
		{"domain slash", func() (string, error) { return Domain(tenantA, "a/b") }, "", `character '/' is not allowed`},
		{"domain empty", func() (string, error) { return Domain(tenantA, "") }, "", "empty segment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.fn()
			if tc.err != "" {
				require.ErrorIs(t, err, ErrInvalidPath)
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			if strings.HasSuffix(got, "/") {
				require.NoError(t, ValidatePrefix(got))
			} else {
				require.NoError(t, ValidatePath(got))
			}
		})
	}
	require.NoError(t, ValidatePath(GatewayCA()))
}

func TestValidatePath(t *testing.T) {
	tests := []struct {
		path, err string
	}{
		{"gateway/ca", ""},
		{"tenants/" + tenantA + "/devices/" + guidA, ""},
		{"tenants/" + tenantA + "/devices", ""},
		{"", "path is empty"},
		{"/gateway/ca", "segment 1: empty segment"},
		{"gateway//ca", "segment 2: empty segment"},
		{"gateway/ca/", `must not end in "/"`},
		{"gateway/../ca", `segment 2: ".." is not allowed`},
		{"gateway/./ca", `segment 2: "." is not allowed`},
		{"gateway/c a", `character ' ' is not allowed`},
		{"gateway/c%2fa", `character '%' is not allowed`},
		{"gateway/cä", `character 'ä' is not allowed`},
		{"tenants/acme/amt-password", `tenant "acme" is not a lower-case canonical UUID`},
		{"tenants/" + tenantA + "/devices/ABC", `device GUID "ABC"`},
		{strings.Repeat("a", maxPathLen+1), "the limit is 1024"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			err := ValidatePath(tc.path)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidPath)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	require.NoError(t, ValidatePrefix("tenants/"+tenantA+"/"))
	require.NoError(t, ValidatePrefix("tenants/"))
	for _, bad := range []string{"", "/", "tenants", "tenants/acme/", "a//", "../"} {
		require.ErrorIs(t, ValidatePrefix(bad), ErrInvalidPath, bad)
	}
}

// FuzzValidatePath checks that whatever the validator accepts is a clean relative path.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"gateway/ca", "tenants/" + tenantA + "/devices/" + guidA, "a/../b", "a//b", "/a", "a/", ".", "tenants/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		segs := strings.Split(p, "/")
		for _, s := range segs {
			require.NotContains(t, []string{"", ".", ".."}, s)
			require.NotContains(t, s, "\\")
		}
		if segs[0] == tenantsDir && len(segs) > 1 {
			u, err := uuid.Parse(segs[1])
			require.NoError(t, err)
			require.Equal(t, u.String(), segs[1])
		}
		require.ErrorIs(t, ValidatePrefix(p), ErrInvalidPath, "a path is not a prefix")
		require.NoError(t, ValidatePrefix(p+"/"))
	})
}
