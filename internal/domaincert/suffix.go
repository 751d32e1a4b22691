package domaincert

import (
	"fmt"
	"strings"
)

// The suffix rule.
//
// AMT checks the provisioning certificate's CN against the DNS suffix it knows (DHCP option 15 or MEBx). Since
// AMT 2.6 a match on the last two labels of the CN is enough: a certificate for prov.example.com provisions
// devices in example.com, a.example.com, b.example.com (Intel, "Remote Configuration and AMT release 3.0").
// RPS applies the same test at upload: last two labels of the leaf CN == last two labels of the suffix
// (protocol-rps-activation §3.3 check 2). Activation later finds the domain by walking the device's suffix down
// to its last two labels (§3.3 "Domain lookup"), so every device that can reach this domain shares those two
// labels with the certificate.
//
// So: both names are compared case-insensitively, without a trailing dot, the CN without a leading "*."
// wildcard label; the suffix must be a DNS name of at least two labels; they match when their last two labels
// are equal. Examples with CN intel.vprodemo.com: vprodemo.com, intel.vprodemo.com and sales.vprodemo.com
// match; vprodemo.org and example.com do not.

// NormalizeSuffix returns the canonical form of a DNS suffix (lower case, no trailing dot) or an *Error of kind
// ErrInvalidSuffix saying what is wrong with it.
func NormalizeSuffix(s string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if err := checkDNSName(n); err != "" {
		return "", fail(ErrInvalidSuffix, "Domain suffix %q is not a valid DNS name: %s.", s, err)
	}
	if strings.Count(n, ".") < 1 {
		return "", fail(ErrInvalidSuffix, "Domain suffix %q has a single label; use the DNS domain of the devices, "+
			"e.g. example.com.", s)
	}
	return n, nil
}

// SuffixMatches reports whether a certificate with common name cn can provision devices in DNS suffix suffix
// (the rule above).
func SuffixMatches(cn, suffix string) bool {
	c := lastTwo(strings.TrimPrefix(strings.ToLower(strings.TrimSuffix(cn, ".")), "*."))
	s := lastTwo(strings.ToLower(strings.TrimSuffix(suffix, ".")))
	return c != "" && c == s
}

func checkSuffix(cn, suffix string) error {
	n, err := NormalizeSuffix(suffix)
	if err != nil {
		return err
	}
	if !SuffixMatches(cn, n) {
		return fail(ErrSuffixMismatch, "FQDN not associated with provisioning certificate: the certificate is for %q, "+
			"which does not cover domain suffix %q (the last two labels must be equal). Use the suffix of the "+
			"certificate's domain or upload the certificate issued for this domain.", cn, n)
	}
	return nil
}

// lastTwo returns the last two dot-separated labels, or "" when there are fewer than two non-empty ones.
func lastTwo(name string) string {
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return ""
	}
	a, b := labels[len(labels)-2], labels[len(labels)-1]
	if a == "" || b == "" {
		return ""
	}
	return a + "." + b
}

// checkDNSName returns why name is not a DNS name (RFC 1123 labels: letters, digits, inner hyphens, 1–63
// characters; 253 in all), or "".
func checkDNSName(name string) string {
	if name == "" {
		return "it is empty"
	}
	if len(name) > 253 {
		return fmt.Sprintf("it is %d characters long, the limit is 253", len(name))
	}
	for _, l := range strings.Split(name, ".") {
		switch {
		case l == "":
			return "it has an empty label"
		case len(l) > 63:
			return fmt.Sprintf("label %q is longer than 63 characters", l)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("label %q starts or ends with a hyphen", l)
		}
		for _, r := range l {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return fmt.Sprintf("label %q contains %q (use letters, digits and hyphens)", l, r)
			}
		}
	}
	return ""
}
