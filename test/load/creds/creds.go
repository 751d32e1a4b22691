// Package creds derives each simulated device's CIRA and AMT credentials from
// its GUID and a shared seed, so that the load gateway can check logins and
// reach devices without a database and the device process can configure them
// without being told anything per device.
package creds

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Device holds one device's credentials.
type Device struct {
	CIRAUser     string // AddMpServer Username: 8 hex digits (AMT allows 1-16 alphanumerics)
	CIRAPassword string // AddMpServer Password: 16 hex digits (AMT allows at most 16 characters)
	AMTPassword  string // admin password: 16 characters passing AMT's strength rule
}

// For derives the credentials of guid (any case) under seed.
func For(seed, guid string) Device {
	guid = strings.ToLower(guid)
	mac := func(purpose string) string {
		h := hmac.New(sha256.New, []byte(seed))
		h.Write([]byte(purpose + "/" + guid))
		return hex.EncodeToString(h.Sum(nil))
	}
	return Device{
		CIRAUser:     mac("cira-user")[:8],
		CIRAPassword: mac("cira-password")[:16],
		// A fixed prefix supplies the upper-case, lower-case, digit and special
		// character AMT insists on.
		AMTPassword: "Ld0!" + mac("amt-password")[:12],
	}
}

// Match reports whether username and password are guid's CIRA credentials,
// in constant time.
func Match(seed, guid, username, password string) bool {
	want := For(seed, guid)
	u := hmac.Equal([]byte(username), []byte(want.CIRAUser))
	p := hmac.Equal([]byte(password), []byte(want.CIRAPassword))
	return u && p
}
