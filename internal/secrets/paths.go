package secrets

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Keys stored at each path (contracts.md "Secrets layout").
const (
	KeyPassword     = "password"      // TenantAMTPassword: the static-policy AMT password; Domain: the PFX password
	KeyAMTPassword  = "amt_password"  // Device
	KeyMEBxPassword = "mebx_password" // Device
	KeyCIRAUsername = "cira_username" // Device
	KeyCIRAPassword = "cira_password" // Device
	KeyPFX          = "pfx"           // Domain: base64 of the PKCS#12 bytes
	KeyCertPEM      = "cert_pem"      // GatewayCA
	KeyKeyPEM       = "key_pem"       // GatewayCA
)

// KeyPreviousAMTPassword (Device) is, while an admin password change is under way, the password AMT had before it.
const KeyPreviousAMTPassword = "previous_amt_password" //nolint:gosec // G101: a key name, not a credential

const (
	tenantsDir = "tenants"
	devicesDir = "devices"
	maxPathLen = 1024
)

// TenantPrefix is the folder holding everything of one tenant; pass it to DeletePrefix when the tenant goes.
func TenantPrefix(tenant string) (string, error) {
	if err := checkUUID("tenant", tenant); err != nil {
		return "", err
	}
	return tenantsDir + "/" + tenant + "/", nil
}

// TenantAMTPassword is tenants/<tenant>/amt-password {password}: the static-policy AMT password.
func TenantAMTPassword(tenant string) (string, error) {
	p, err := TenantPrefix(tenant)
	if err != nil {
		return "", err
	}
	return p + "amt-password", nil
}

// Device is tenants/<tenant>/devices/<guid> {amt_password, mebx_password, cira_username, cira_password}.
func Device(tenant, guid string) (string, error) {
	p, err := TenantPrefix(tenant)
	if err != nil {
		return "", err
	}
	if err := checkUUID("device GUID", guid); err != nil {
		return "", err
	}
	return p + devicesDir + "/" + guid, nil
}

// Domain is tenants/<tenant>/domains/<profileName> {pfx, password}. Domain profile names are case-insensitive
// (protocol-rps-activation §3.3, citext), so the path uses the lower-case form and "Corp" and "corp" meet.
func Domain(tenant, profile string) (string, error) {
	p, err := TenantPrefix(tenant)
	if err != nil {
		return "", err
	}
	if err := checkSegment(profile); err != nil {
		return "", fmt.Errorf("%w: domain profile name %q: %s", ErrInvalidPath, profile, err)
	}
	return p + "domains/" + strings.ToLower(profile), nil
}

// GatewayCA is gateway/ca {cert_pem, key_pem}, the CIRA gateway's CA; global, not per tenant.
func GatewayCA() string { return "gateway/ca" }

// ValidatePath checks a secret path: segments of [A-Za-z0-9._-], none empty, "." or "..", no leading or trailing
// "/", and canonical lower-case UUIDs for the tenant and device GUID segments.
func ValidatePath(path string) error {
	if strings.HasSuffix(path, "/") {
		return fmt.Errorf("%w %q: a secret path must not end in \"/\"", ErrInvalidPath, path)
	}
	return validateSegments(path, path)
}

// ValidatePrefix checks a DeletePrefix argument: a folder path ending in "/", otherwise as ValidatePath.
func ValidatePrefix(prefix string) error {
	folder, ok := strings.CutSuffix(prefix, "/")
	if !ok {
		return fmt.Errorf("%w %q: a prefix must end in \"/\"", ErrInvalidPath, prefix)
	}
	return validateSegments(prefix, folder)
}

func validateSegments(orig, path string) error {
	if path == "" {
		return fmt.Errorf("%w: path is empty", ErrInvalidPath)
	}
	if len(orig) > maxPathLen {
		return fmt.Errorf("%w: path is %d bytes long, the limit is %d", ErrInvalidPath, len(orig), maxPathLen)
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if err := checkSegment(s); err != nil {
			return fmt.Errorf("%w %q: segment %d: %s", ErrInvalidPath, orig, i+1, err)
		}
	}
	if segs[0] == tenantsDir && len(segs) > 1 {
		if err := checkUUID("tenant", segs[1]); err != nil {
			return fmt.Errorf("%w (in %q)", err, orig)
		}
		if len(segs) > 3 && segs[2] == devicesDir {
			if err := checkUUID("device GUID", segs[3]); err != nil {
				return fmt.Errorf("%w (in %q)", err, orig)
			}
		}
	}
	return nil
}

// checkSegment returns a plain error; callers wrap it with ErrInvalidPath and the full path.
func checkSegment(s string) error {
	switch s {
	case "":
		return fmt.Errorf("empty segment")
	case ".", "..":
		return fmt.Errorf("%q is not allowed", s)
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("character %q is not allowed (use letters, digits, '.', '_' and '-')", c)
		}
	}
	return nil
}

func checkUUID(what, s string) error {
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return fmt.Errorf("%w: %s %q is not a lower-case canonical UUID (8-4-4-4-12)", ErrInvalidPath, what, s)
	}
	return nil
}
