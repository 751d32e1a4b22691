package devices

import (
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/dmrm/dm-manager/internal/store"
)

// validRow is an import row that passed every check that needs no store: canonical ids, a known mode.
type validRow struct {
	line                                    int
	guid, tenant, username                  string
	ciraPassword, amtPassword, mebxPassword string
	mode                                    store.ControlMode
}

// Credential limits (protocol-rps-activation §3: AMT/MEBx passwords 8-32 characters; AMT's CIRA username field
// takes up to 16 letters and digits). The CIRA password may be the tenant's AMT password (EMF static policy),
// so it gets the AMT password's upper bound.
const (
	maxCIRAUsername = 16
	minAMTPassword  = 8
	maxPassword     = 32
)

// validateRows checks every row and returns the valid ones, or all the problems found. Rows may share a CIRA
// username (EMF configures "admin" on every device): the gateway identifies a device by its GUID.
func validateRows(rows []importRow) ([]validRow, []RowError) {
	var out []validRow
	var errs []RowError
	guidLine := map[string]int{}
	for _, r := range rows {
		bad := func(field, problem string) {
			errs = append(errs, RowError{Line: r.Line, GUID: r.GUID, Field: field, Problem: problem})
		}
		n := len(errs)
		v := validRow{line: r.Line, username: r.CIRAUsername, ciraPassword: r.CIRAPassword,
			amtPassword: r.AMTPassword, mebxPassword: r.MEBxPassword}
		var problem string
		if v.guid, problem = canonicalUUID(r.GUID); problem != "" {
			bad(colGUID, problem)
		} else if l, dup := guidLine[v.guid]; dup {
			bad(colGUID, "the same device is on line "+strconv.Itoa(l))
		} else {
			guidLine[v.guid] = r.Line
		}
		if v.tenant, problem = canonicalUUID(r.Tenant); problem != "" {
			bad(colTenant, problem)
		}
		if problem := checkUsername(r.CIRAUsername); problem != "" {
			bad(colCIRAUsername, problem)
		}
		if problem := checkPassword(r.CIRAPassword, 1, true); problem != "" {
			bad(colCIRAPassword, problem)
		}
		if problem := checkPassword(r.AMTPassword, minAMTPassword, true); problem != "" {
			bad(colAMTPassword, problem)
		}
		if problem := checkPassword(r.MEBxPassword, minAMTPassword, false); problem != "" {
			bad(colMEBxPassword, problem)
		}
		switch strings.ToLower(strings.TrimSpace(r.ControlMode)) {
		case "", "ccm", "1":
			v.mode = store.ControlModeCCM
		case "acm", "2":
			v.mode = store.ControlModeACM
		default:
			bad(colControlMode, "must be ccm or acm (empty means ccm)")
		}
		if len(errs) == n {
			out = append(out, v)
		}
	}
	return out, errs
}

// canonicalUUID accepts only the 8-4-4-4-12 text form (any case): a 32-digit hex string could be AMT's raw
// mixed-endian bytes (protocol-cira-wsman §2.5) and would silently name another device.
func canonicalUUID(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "required"
	}
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", "must be a UUID in the form 8-4-4-4-12 hex digits"
	}
	return u.String(), ""
}

func checkUsername(s string) string {
	if s == "" {
		return "required"
	}
	if len(s) > maxCIRAUsername {
		return "longer than the " + strconv.Itoa(maxCIRAUsername) + " characters AMT takes"
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return "must be letters and digits only"
		}
	}
	return ""
}

// checkPassword never echoes the value, only what is wrong with it.
func checkPassword(s string, minLen int, required bool) string {
	if s == "" {
		if required {
			return "required"
		}
		return ""
	}
	if len(s) < minLen || len(s) > maxPassword {
		return "must be " + strconv.Itoa(minLen) + " to " + strconv.Itoa(maxPassword) + " characters"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "must be printable ASCII characters"
		}
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return "starts or ends with a space (a stray space after a comma?)"
	}
	return ""
}
