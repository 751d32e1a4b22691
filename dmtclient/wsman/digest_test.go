package wsman

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// protocol-rps-activation §7.3: every variant parses to the same challenge, qop normalised to auth.
func TestParseChallengeVectors(t *testing.T) {
	want := challenge{Realm: "Digest:56ABC7BE224EF620C69EB88F01071DC8", Nonce: "fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY", Stale: "false", Qop: "auth"}
	const base = `Digest realm="Digest:56ABC7BE224EF620C69EB88F01071DC8", nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",stale="false",`
	for _, in := range []string{
		base + `qop="auth"`,
		base + `qop="auth-int, auth"`,
		base + `qop="auth-int, auth, hot-mess"`,
		base + `qop=""`,
		base + `qop="auth",`,
		`Digest realm="Digest:56ABC7BE224EF620C69EB88F01071DC8", nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",stale="false",,qop="auth",`,
	} {
		got, err := parseChallenge([]string{in})
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
}

func TestParseChallengeChoosesDigest(t *testing.T) {
	got, err := parseChallenge([]string{`Negotiate`, `digest realm=Digest:X , nonce = "a\"b", opaque="o", algorithm=MD5`})
	require.NoError(t, err)
	require.Equal(t, challenge{Realm: "Digest:X", Nonce: `a"b`, Opaque: "o", Qop: "auth"}, got)
}

func TestParseChallengeRejects(t *testing.T) {
	for _, in := range [][]string{
		nil,
		{`Basic realm="x"`},
		{`Digest nonce="n"`},
		{`Digest realm="r", nonce="n", algorithm=SHA-256`},
		{`Digest realm="r, nonce="n`},
		{`Digest realm="r", bogus, nonce="n"`},
	} {
		_, err := parseChallenge(in)
		var pe *ProtocolError
		require.ErrorAs(t, err, &pe, "%q", in)
	}
}

func TestDigestVectors(t *testing.T) {
	// protocol-rps-activation §7.4.
	require.Equal(t, "c442e1096e1a3dad656d983978db6dfe", md5hex("$$OsAdmin:Digest:A4070000000000000000000000000000:KQGnH+N5qJ8YLqjEFJMnGSgcnFLMv0Tk"))
	require.Equal(t, "d83ba950d85d6f9b22682df889d8b847", md5hex("POST:/wsman"))
	ch := challenge{Realm: "Digest:A4070000000000000000000000000000", Nonce: "wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63", Qop: "auth"}
	require.Equal(t,
		`Digest username="$$OsAdmin",realm="Digest:A4070000000000000000000000000000",nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63",uri="/wsman",qop="auth",response="620915f00f3bb47aab17bf587698d5ea",nc="00000001",cnonce="abc123"`,
		ch.authorization("$$OsAdmin", "KQGnH+N5qJ8YLqjEFJMnGSgcnFLMv0Tk", 1, "abc123"))

	// protocol-cira-wsman §8.3.
	require.Equal(t, "cf09062f1b7467e742c5a269a42f98b8", md5hex("admin:Digest:56ABC7BE224EF620C69EB88F01071DC8:P@ssw0rd"))
	require.Equal(t, "89e54a7f67d92228fcd3b500776b0957",
		digestResponse("admin", "P@ssw0rd", "Digest:56ABC7BE224EF620C69EB88F01071DC8", "fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY", "00000001", "abc123"))
}

func TestAuthorizationDetails(t *testing.T) {
	ch := challenge{Realm: "r", Nonce: "n", Opaque: "op", Qop: "auth"}
	got := ch.authorization(`we"ird`, "p", 0x1a, "c")
	require.Contains(t, got, `username="we\"ird"`)
	require.Contains(t, got, `nc="0000001a"`)
	require.Contains(t, got, `,opaque="op"`)
	require.Len(t, randomCnonce(), 16)
	require.NotEqual(t, randomCnonce(), randomCnonce())
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Digest realm="Digest:56ABC7BE224EF620C69EB88F01071DC8", nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",stale="false",,qop="auth",`)
	f.Add(`Digest realm="a\"b", nonce=x, opaque="`)
	f.Fuzz(func(t *testing.T, h string) {
		ch, err := parseChallenge([]string{h})
		if err == nil && (ch.Realm == "" || ch.Nonce == "" || ch.Qop != "auth") {
			t.Fatalf("accepted incomplete challenge %+v", ch)
		}
	})
}
