package rps_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/rps"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want rps.Command
	}{
		// §7.10 vectors.
		{"activate --profile profile01", rps.Command{Op: "activate", Profile: "profile01"}},
		{"activate --profile profile01 -f", rps.Command{Op: "activate", Profile: "profile01", Force: true}},
		{"deactivate --password password", rps.Command{Op: "deactivate"}},
		{"deactivate --password password -f", rps.Command{Op: "deactivate", Force: true}},
		{"maintenance -password password --synctime", rps.Command{Op: "maintenance", Task: "synctime"}},
		{"maintenance -password password --synctime -f", rps.Command{Op: "maintenance", Task: "synctime", Force: true}},
		{"maintenance -password password --synchostname", rps.Command{Op: "maintenance", Task: "synchostname"}},
		{"maintenance -password password --syncip", rps.Command{Op: "maintenance", Task: "syncip"}},
		{"maintenance -password password --changepassword", rps.Command{Op: "maintenance", Task: "changepassword"}},
		{"maintenance -password password --changepassword a_static_password",
			rps.Command{Op: "maintenance", Task: "changepassword", TaskArg: "a_static_password"}},
		// The password is never read from the command string; a spaced one does not leak into other fields.
		{"maintenance -password pa ss --changepassword N3w! -f",
			rps.Command{Op: "maintenance", Task: "changepassword", TaskArg: "N3w!", Force: true}},
		{"activate --profile=p1 --force", rps.Command{Op: "activate", Profile: "p1", Force: true}},
		{"  activate   --profile   p2 ", rps.Command{Op: "activate", Profile: "p2"}},
		{"activate --profile", rps.Command{Op: "activate"}},
		{"", rps.Command{}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, rps.ParseCommand(tc.in), tc.in)
	}
}

func TestSupportedProtocol(t *testing.T) {
	for v, ok := range map[string]bool{
		"4.0.0": true, "4.0": true, "4": true, "4.0.1": false, "4.1.0": false, "3.9.9": false, "5.0.0": false,
		"": false, "x": false, "4.0.0.0": false, "4.-1": false,
	} {
		require.Equal(t, ok, rps.SupportedProtocol(v), v)
	}
}

// payload71 is the decoded payload of §7.1, with its first hashes.
const payload71 = `{"ver":"11.8.50","build":"3425","fqdn":"vprodemo.com","password":"KQGnH+N5qJ8YLqjEFJMnGSgcnFLMv0Tk",
"currentMode":0,"certHashes":["e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70",
"eb04cf5eb1f39afa762f2bb120f296cba520c1b97db1589565b81cb9a17b7244"],"sku":"16392",
"uuid":"4bac9510-04a6-4321-bae2-d45ddf07b684","username":"$$OsAdmin","client":"PPC","profile":"profile1"}`

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDecodePayload(t *testing.T) {
	p, err := rps.DecodePayload(b64(payload71), "cid")
	require.NoError(t, err)
	require.Equal(t, "4bac9510-04a6-4321-bae2-d45ddf07b684", p.UUID)
	require.Equal(t, "vprodemo.com", p.FQDN)
	require.Equal(t, "$$OsAdmin", p.Username)
	require.Len(t, p.CertHashes, 2)

	// Legacy 16-byte array (§7.12) and upper case are canonicalised.
	p, err = rps.DecodePayload(b64(`{"ver":"16.1","build":"1","client":"RPC","uuid":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}`), "cid")
	require.NoError(t, err)
	require.Equal(t, "03020100-0504-0706-0809-0a0b0c0d0e0f", p.UUID)
	p, err = rps.DecodePayload(b64(`{"ver":"16.1","build":"1","client":"RPC","uuid":"4BAC9510-04A6-4321-BAE2-D45DDF07B684"}`), "cid")
	require.NoError(t, err)
	require.Equal(t, "4bac9510-04a6-4321-bae2-d45ddf07b684", p.UUID)

	for in, want := range map[string]string{
		strings.Replace(payload71, `"ver":"11.8.50",`, "", 1):                                     "Invalid payload from client", // §7.1 negative
		`{"ver":"16.1","build":"1","client":"RPC","uuid":[1,2,3]}`:                                "cid - uuid not valid length",
		`{"ver":"16.1","build":"1","client":"RPC","uuid":"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}`: `cid - uuid "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz" is not a UUID`,
		`{"ver":"16.1","build":"1","client":"RPC","uuid":""}`:                                     "Invalid payload from client",
		`{"ver":"16.1","build":"1","client":"RPC","uuid":[1,2,300]}`:                              "Failed to parse client message payload. uuid: byte 300 out of range",
	} {
		_, err := rps.DecodePayload(b64(in), "cid")
		require.EqualError(t, err, want, in)
	}
}

func FuzzDecodePayload(f *testing.F) {
	f.Add(b64(payload71))
	f.Add(b64(`{"ver":"16.1","build":"1","client":"RPC","uuid":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}`))
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := rps.DecodePayload(s, "cid")
		if err == nil && len(p.UUID) != 36 {
			t.Fatalf("accepted uuid %q", p.UUID)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"activate --profile profile01 -f", "deactivate --password password",
		"maintenance -password password --changepassword a_static_password", "--profile=", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := rps.ParseCommand(s)
		if c.Op != "" && !strings.Contains(s, c.Op) {
			t.Fatalf("op %q not in %q", c.Op, s)
		}
	})
}
