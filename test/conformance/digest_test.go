package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// TestDigestFirstContactAndReuse: the first request goes without Authorization, AMT answers 401 and closes, the
// client re-sends with digest on a fresh connection (§8.3); later requests reuse the cached challenge (nc 2, 3…)
// and the kept-alive connection: no further 401s, no further connections.
func TestDigestFirstContactAndReuse(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	_, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, wireStats{Conns: 2, Requests: 2, Authorized: 1, Unauthorized: 1}, r.net.stats(),
		"401 on the first connection, authenticated retry on a second")

	for range 10 {
		_, err := c.GeneralSettings(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, wireStats{Conns: 2, Requests: 12, Authorized: 11, Unauthorized: 1}, r.net.stats(),
		"cached challenge and keep-alive connection reused")

	// An enumeration is two exchanges on the same connection.
	_, err = c.PowerState(ctx)
	require.NoError(t, err)
	require.Equal(t, wireStats{Conns: 2, Requests: 14, Authorized: 13, Unauthorized: 1}, r.net.stats())

	// One nonce throughout, nc counting 00000001, 00000002, … (§2.14), Authorization before Host (§8.1).
	var ncs []string
	nonces := map[string]bool{}
	for _, m := range authHeader.FindAllSubmatch(r.net.received(), -1) {
		nonces[string(m[1])] = true
		ncs = append(ncs, string(m[2]))
	}
	require.Len(t, nonces, 1)
	require.Len(t, ncs, 13)
	for i, nc := range ncs {
		require.Equal(t, fmt.Sprintf("%08x", i+1), nc)
	}
}

var authHeader = regexp.MustCompile(`\r\nAuthorization: Digest [^\r]*[ ,]nonce="([^"]+)"[^\r]*nc="?([0-9a-f]{8})"?[^\r]*\r\nHost: `)

// TestDigestConnectionClose: with keep-alive disabled (the rpc-go relay mode, §1.6) every exchange has its own
// connection, but the challenge is still cached: one 401 in all.
func TestDigestConnectionClose(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.client(false, "admin", adminPassword, func(cfg *wsman.Config) { cfg.DisableKeepAlive = true })

	for range 5 {
		_, err := c.GeneralSettings(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, wireStats{Conns: 6, Requests: 6, Authorized: 5, Unauthorized: 1}, r.net.stats())
}

// TestDigestStaleNonce: once AMT's nonce expires it answers 401 stale=true; the client takes the new nonce and
// retries once on a fresh connection, without surfacing an error.
func TestDigestStaleNonce(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t, func(c *amtsim.Config) { c.NonceTTL = time.Minute })
	r.activateCCM(ctx)
	c := r.admin(false)

	_, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	before := r.net.stats()

	r.clock.Advance(2 * time.Minute)
	_, err = c.GeneralSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, wireStats{
		Conns: before.Conns + 1, Requests: before.Requests + 2,
		Authorized: before.Authorized + 2, Unauthorized: before.Unauthorized + 1,
	}, r.net.stats(), "stale nonce: one 401, one authenticated retry on a new connection")

	_, err = c.GeneralSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, before.Unauthorized+1, r.net.stats().Unauthorized, "the new nonce is cached")
}

// TestDigestNonceEvicted: AMT keeps few nonces; other clients' challenges push ours out and the next request is
// answered 401 stale, which the client recovers from as above.
func TestDigestNonceEvicted(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)
	_, err := c.GeneralSettings(ctx)
	require.NoError(t, err)

	for range 6 {
		_, err := r.admin(false).GeneralSettings(ctx) // each new client obtains a fresh nonce
		require.NoError(t, err)
	}
	before := r.net.stats()
	_, err = c.GeneralSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, before.Unauthorized+1, r.net.stats().Unauthorized)
}

// TestDigestWrongPassword: AMT keeps answering 401; the client gives up after three authenticated tries with
// exactly RPS's text (§2.14) and a typed error.
func TestDigestWrongPassword(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)

	for _, tc := range []struct {
		name, user, password string
	}{
		{"wrong password", "admin", "Wr0ng-Password!"},
		{"unknown user", "operator", adminPassword},
		{"LSA account after activation", "$$OsAdmin", adminPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.net.stats()
			_, err := r.client(false, tc.user, tc.password).GeneralSettings(ctx)
			require.EqualError(t, err, "Unable to authenticate with AMT")
			require.ErrorIs(t, err, wsman.ErrAuthFailed)
			var ae *wsman.AuthError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.user, ae.Username)
			require.Equal(t, r.dev.DigestRealm(), ae.Realm)
			require.Equal(t, 3, ae.Attempts)
			after := r.net.stats()
			require.Equal(t, int64(3), after.Authorized-before.Authorized, "at most 3 authenticated tries")
			require.Equal(t, int64(4), after.Unauthorized-before.Unauthorized, "one challenge, three rejections")
			require.Equal(t, int64(4), after.Conns-before.Conns, "AMT closes after every 401")
		})
	}

	// A client whose password was right and then changed under it (cached challenge): three tries, no more.
	c := r.admin(false)
	_, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	before := r.net.stats()
	c.WSMan().SetCredentials("admin", "Stale-Passw0rd!")
	_, err = c.GeneralSettings(ctx)
	require.EqualError(t, err, "Unable to authenticate with AMT")
	require.Equal(t, int64(3), r.net.stats().Authorized-before.Authorized)
}

// TestDigestPreProvisioningNetworkSide: before activation only the local account exists, and only on the host
// side; from the network even the LSA credentials are refused.
func TestDigestPreProvisioningNetworkSide(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	user, pw := r.dev.LSA()
	_, err := r.client(false, user, pw).GeneralSettings(ctx)
	require.ErrorIs(t, err, wsman.ErrAuthFailed)
	_, err = r.client(true, user, pw).GeneralSettings(ctx)
	require.NoError(t, err)
}

// splitReads hands the client at most a few bytes per Read, so that TCP adds its own split points to the
// simulator's random chunk boundaries.
type splitReads struct {
	net.Conn
	rng *rand.Rand
}

func (s *splitReads) Read(p []byte) (int, error) {
	n := 1 + s.rng.IntN(64)
	return s.Conn.Read(p[:min(n, len(p))])
}

// chunkSizes lists the chunk sizes of a raw chunked response.
func chunkSizes(t *testing.T, raw []byte) []int {
	t.Helper()
	_, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	require.True(t, ok)
	var sizes []int
	for {
		line, rest, ok := bytes.Cut(body, []byte("\r\n"))
		require.True(t, ok)
		n, err := strconv.ParseUint(string(line), 16, 32)
		require.NoError(t, err)
		if n == 0 {
			require.Equal(t, "0", string(line), "terminating zero chunk (§8.2)")
			require.Equal(t, "\r\n", string(rest))
			return sizes
		}
		require.Regexp(t, "^[0-9A-F]{4}$", string(line), "AMT writes 4 upper-case hex digits (§8.2)")
		sizes = append(sizes, int(n))
		body = rest[n+2:]
	}
}

// TestChunkSplits runs the same reads against devices whose chunk boundaries come from different seeds, with
// the client's reads split as well; every decoded result must be identical.
func TestChunkSplits(t *testing.T) {
	type snapshot struct {
		hw  amt.Hardware
		ver amt.Version
		gs  amt.GeneralSettings
		pw  amt.PowerStatus
	}
	var first *snapshot
	var firstChunks []int
	for seed := uint64(1); seed <= 8; seed++ {
		ctx := testContext(t)
		r := newRig(t, withSeed(seed))
		r.activateCCM(ctx)
		addr := r.net.Addr().(*net.TCPAddr)
		tcp := dmtclient.TCPDialer{Host: addr.IP.String(), Port: addr.Port}
		rng := rand.New(rand.NewPCG(seed, 99))
		c := r.client(false, "admin", adminPassword, func(cfg *wsman.Config) {
			cfg.Dialer = wsman.DialerFunc(func(ctx context.Context) (net.Conn, error) {
				conn, err := tcp.Dial(ctx)
				if err != nil {
					return nil, err
				}
				return &splitReads{Conn: conn, rng: rng}, nil
			})
		})

		var s snapshot
		var err error
		s.hw, err = c.Hardware(ctx)
		require.NoError(t, err)
		s.ver, err = c.Version(ctx)
		require.NoError(t, err)
		s.pw, err = c.PowerState(ctx)
		require.NoError(t, err)
		s.gs, err = c.GeneralSettings(ctx)
		require.NoError(t, err)
		chunks := chunkSizes(t, r.net.lastResponse())
		require.Greater(t, len(chunks), 1, "seed %d: the response was split", seed)

		// Device-specific values differ per device; the rest must decode identically.
		s.hw.SystemPackage.PlatformGUID, s.hw.Chassis.SerialNumber, s.hw.BaseBoard.SerialNumber = "", "", ""
		for i := range s.hw.Extra.PhysicalPackages {
			s.hw.Extra.PhysicalPackages[i].SerialNumber = ""
		}
		for i := range s.hw.Extra.SystemPackaging {
			s.hw.Extra.SystemPackaging[i].PlatformGUID = ""
		}
		for i := range s.hw.Memory {
			s.hw.Memory[i].SerialNumber = ""
		}
		s.gs.DigestRealm = ""
		if first == nil {
			first, firstChunks = &s, chunks
			continue
		}
		require.Equal(t, *first, s, "seed %d", seed)
		require.NotEqual(t, firstChunks, chunks, "seed %d splits like seed 1", seed)
	}
}

// TestUnreachable: SetReachable(false) drops the kept-alive connection and refuses new ones; requests fail with a
// typed error instead of hanging, and work again once the network is back.
func TestUnreachable(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)
	_, err := c.GeneralSettings(ctx)
	require.NoError(t, err)

	r.dev.SetReachable(false)
	_, err = c.GeneralSettings(ctx)
	var pe *wsman.ProtocolError
	require.True(t, errors.As(err, &pe), "got %T: %v", err, err)
	require.Equal(t, "http", pe.Layer)

	r.dev.SetReachable(true)
	_, err = c.GeneralSettings(ctx)
	require.NoError(t, err)
}
