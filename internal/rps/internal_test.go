package rps

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
)

func TestXMLText(t *testing.T) {
	for in, want := range map[string]string{
		`<a:Header><b:RelatesTo>13</b:RelatesTo></a:Header>`:                 "13",
		`<RelatesTo> 7 </RelatesTo>`:                                         "7",
		`<x:Other attr="RelatesTo>">1</x:Other><c:RelatesTo>2</c:RelatesTo>`: "2",
		`</b:RelatesTo>`:            "",
		`no tag`:                    "",
		`<b:RelatesTo>unterminated`: "",
	} {
		require.Equal(t, want, xmlText([]byte(in), "RelatesTo"), in)
	}
}

// A chunk boundary may fall inside the value; the relay reads the de-chunked body.
func TestRelatesToAcrossChunks(t *testing.T) {
	body := "<Envelope><Header><b:RelatesTo>13</b:RelatesTo></Header></Envelope>"
	cut := strings.Index(body, "13") + 1
	raw := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		hexLen(body[:cut]) + "\r\n" + body[:cut] + "\r\n" + hexLen(body[cut:]) + "\r\n" + body[cut:] + "\r\n0\r\n\r\n"
	require.Equal(t, "13", relatesTo([]byte(raw)))
	require.Empty(t, relatesTo([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")))
	require.Empty(t, relatesTo([]byte("garbage")))
}

func hexLen(s string) string { return strings.ToUpper(hex.EncodeToString([]byte{byte(len(s))})) }

func TestTenantFromProfile(t *testing.T) {
	const id = "8e3f5a1c-5a0e-4c2e-9b7a-2d1f0c3b4a5e"
	for in, want := range map[string]string{
		id + "_ccm": id, id + "_ACM": id, strings.ToUpper(id) + "_acm": id, id + "_x": "", "corp_ccm": "", id: "",
	} {
		got, ok := tenantFromProfile(in)
		require.Equal(t, want, got, in)
		require.Equal(t, want != "", ok, in)
	}
}

func TestStrongPassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"Intel123!": true, "N3w-Passw0rd!": true, "N3w-Passw0rd": false, "short1!A": true, "nouppercase1!": false,
		"NOLOWERCASE1!": false, "NoDigits!!": false, "NoSpecial12": false, "With Space1!": false,
		strings.Repeat("Aa1!", 9): false,
	} {
		require.Equal(t, ok, strongPassword(pw), pw)
	}
}

// FuzzTunnelTake feeds rpc-go's tunnel messages with any payload: bytes are buffered exactly, a reset ends the
// stream, nothing panics.
func FuzzTunnelTake(f *testing.F) {
	f.Add("tls_data", "FgMBAAEB")
	f.Add("connection_reset", "Y29ubmVjdGlvbl9jbG9zZWQ=")
	f.Add("connection_reset", "bG1zX2Vycm9y")
	f.Add("tls_data", "not base64!")
	f.Add("heartbeat_response", "")
	f.Fuzz(func(t *testing.T, method, payload string) {
		c := newTunnelConn(&session{log: zerolog.Nop()})
		c.take(clientMessage{Method: method, Payload: payload})
		raw, err := base64.StdEncoding.DecodeString(payload)
		switch {
		case method == methodTLSData && err == nil:
			if !bytes.Equal(c.buf, raw) || c.ended != nil {
				t.Fatalf("tls_data %q: buffered %q, ended %v", payload, c.buf, c.ended)
			}
		case method == methodTLSData, method == methodConnectionReset:
			if c.ended == nil {
				t.Fatalf("%s %q did not end the stream", method, payload)
			}
		default:
			if c.ended != nil || len(c.buf) > 0 {
				t.Fatalf("%s changed the stream", method)
			}
		}
	})
}

// An unreachable secret store reaches rpc-go and the outcome event without its address or paths.
func TestPublicHidesSecretStoreDetails(t *testing.T) {
	cause := fmt.Errorf("secrets: vault get %q: %w: %w", "secret/data/tenants/x", secrets.ErrUnavailable,
		errors.New("dial tcp 127.0.0.1:8200: connect: connection refused"))
	for _, err := range []error{cause, fail("Failed to save device information to Secret Provider", cause)} {
		require.Equal(t, textSecretsUnavailable, public(err))
	}
	require.Equal(t, "Setup failed", public(errors.New("Setup failed")))
}
