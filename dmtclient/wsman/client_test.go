package wsman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func getSettings(t *testing.T, c *Client) {
	t.Helper()
	r, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
	require.NoError(t, err)
	var gs generalSettings
	require.NoError(t, r.Decode(&gs))
	require.Equal(t, "Digest:F3EB554784E729164447A89F60B641C5", gs.DigestRealm)
}

// First request goes without credentials, the 401 closes the connection, the retry authenticates over a fresh
// one, and later requests reuse that connection with the cached challenge and nc counting up (§8.3).
func TestDigestFlowAndKeepAlive(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, nil)
	getSettings(t, c)
	getSettings(t, c)
	getSettings(t, c)

	seen := s.requests()
	require.Len(t, seen, 4)
	require.False(t, seen[0].authorized)
	require.Empty(t, seen[0].header.Get("Authorization"))
	for i, want := range []struct {
		conn int
		nc   string
	}{{2, "00000001"}, {2, "00000002"}, {2, "00000003"}} {
		require.True(t, seen[i+1].authorized, "request %d", i+1)
		require.Equal(t, want.conn, seen[i+1].conn, "request %d", i+1)
		require.Equal(t, want.nc, seen[i+1].nc, "request %d", i+1)
	}
	h := seen[1].header
	require.Equal(t, "0b4c5d6e-0000-0000-0000-000000000001:16992", seen[1].host)
	require.Equal(t, "application/soap+xml;charset=UTF-8", h.Get("Content-Type"))
	require.Empty(t, h.Get("Connection"))
	// Every request carries its own MessageID.
	require.NotEqual(t, reqMessageID.FindString(seen[2].body), reqMessageID.FindString(seen[3].body))
}

func TestWrongPasswordGivesUp(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, func(cfg *Config) { cfg.Password = "wrong" })
	_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
	require.ErrorIs(t, err, ErrAuthFailed)
	require.EqualError(t, err, "Unable to authenticate with AMT")
	var ae *AuthError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, AuthError{Username: "admin", Realm: s.realm, Attempts: maxAuthTries}, *ae)
	require.NotContains(t, err.Error(), "wrong")

	seen := s.requests()
	require.Len(t, seen, 1+maxAuthTries, "one unauthenticated request, then three tries")
	for i, r := range seen {
		require.Equal(t, i+1, r.conn, "each try over a fresh connection")
	}
}

func TestNoCredentials(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, func(cfg *Config) { cfg.Username, cfg.Password = "", "" })
	_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
	require.ErrorIs(t, err, ErrAuthFailed)
	require.Len(t, s.requests(), 1)
}

func TestSetCredentials(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, func(cfg *Config) { cfg.Username = "$$OsAdmin" })
	_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
	require.ErrorIs(t, err, ErrAuthFailed)
	c.SetCredentials("admin", s.password)
	getSettings(t, c)
}

// A new nonce from AMT (stale) costs one 401 and restarts nc at 1.
func TestStaleNonce(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, nil)
	getSettings(t, c)
	s.rotateNonce()
	getSettings(t, c)
	seen := s.requests()
	require.Len(t, seen, 4)
	require.False(t, seen[2].authorized)
	require.True(t, seen[3].authorized)
	require.Equal(t, "00000001", seen[3].nc)
	require.Equal(t, 3, seen[3].conn)
}

func TestConnectionCloseRedials(t *testing.T) {
	s := newTestAMT(t)
	s.closeAfter = true
	c := s.client(t, nil)
	getSettings(t, c)
	getSettings(t, c)
	seen := s.requests()
	require.Len(t, seen, 3, "the challenge stays cached across connections")
	require.Equal(t, []int{1, 2, 3}, []int{seen[0].conn, seen[1].conn, seen[2].conn})
}

func TestDisableKeepAlive(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, func(cfg *Config) { cfg.DisableKeepAlive = true })
	getSettings(t, c)
	getSettings(t, c)
	seen := s.requests()
	require.Len(t, seen, 3)
	for _, r := range seen {
		require.Equal(t, "close", r.header.Get("Connection"))
	}
	require.Equal(t, 3, seen[2].conn)
}

// The device dropping an idle keep-alive connection is invisible to the caller.
func TestIdleConnectionDroppedByDevice(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, nil)
	getSettings(t, c)
	s.mu.Lock()
	for conn := range s.active {
		_ = conn.Close()
	}
	s.mu.Unlock()
	getSettings(t, c)
	seen := s.requests()
	require.Len(t, seen, 3)
	require.Equal(t, 3, seen[2].conn)
}

func TestChunkedSplits(t *testing.T) {
	for _, size := range []int{1, 7, 0x220, 1 << 20} {
		s := newTestAMT(t)
		s.chunk = size
		getSettings(t, s.client(t, nil))
	}
}

func TestFaultAndStatusErrors(t *testing.T) {
	s := newTestAMT(t)
	s.respond = func(relatesTo, _ string) (int, string) { return 400, faultResponse(relatesTo) }
	c := s.client(t, nil)
	_, err := c.Get(context.Background(), CIM("CIM_Processor"))
	var fe *FaultError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "DestinationUnreachable", fe.Subcode)

	s.respond = func(string, string) (int, string) { return 500, "oops" }
	_, err = c.Get(context.Background(), CIM("CIM_Processor"))
	var he *HTTPStatusError
	require.ErrorAs(t, err, &he)
	require.Equal(t, HTTPStatusError{StatusCode: 500, Reason: "Internal Server Error"}, *he)

	s.respond = func(string, string) (int, string) { return 200, generalSettingsResponse("999") }
	_, err = c.Get(context.Background(), CIM("CIM_Processor"))
	require.ErrorContains(t, err, "RelatesTo")
}

func TestInvokeReturnValue(t *testing.T) {
	s := newTestAMT(t)
	s.respond = func(relatesTo, _ string) (int, string) {
		return 200, amtResponse(relatesTo, AMT("AMT_SetupAndConfigurationService")+"/UnprovisionResponse",
			AMT("AMT_SetupAndConfigurationService"), AMT("AMT_SetupAndConfigurationService"),
			`<g:Unprovision_OUTPUT xmlns:g="{NS}"><g:ReturnValue>16</g:ReturnValue></g:Unprovision_OUTPUT>`)
	}
	c := s.client(t, nil)
	r, err := c.Invoke(context.Background(), AMT("AMT_SetupAndConfigurationService"), "Unprovision", Int("ProvisioningMode", 1))
	require.NotNil(t, r)
	var rv *ReturnValueError
	require.ErrorAs(t, err, &rv)
	require.Equal(t, ReturnValueError{Method: "AMT_SetupAndConfigurationService.Unprovision", Value: 16, Name: "NOT_PERMITTED"}, *rv)

	_, err = c.Invoke(context.Background(), AMT("AMT_SetupAndConfigurationService"), "CommitChanges")
	require.ErrorContains(t, err, "expected CommitChanges_OUTPUT")
}

func TestEnumerateAllPages(t *testing.T) {
	s := newTestAMT(t)
	uri := CIM("CIM_SoftwareIdentity")
	pulls := 0
	s.respond = func(relatesTo, body string) (int, string) {
		if strings.Contains(body, "<Enumerate ") {
			return 200, amtResponse(relatesTo, ActionEnumerate+"Response", uri, NSEnumeration,
				`<g:EnumerateResponse xmlns:g="{NS}"><g:EnumerationContext>01000000-0000-0000-0000-000000000000</g:EnumerationContext></g:EnumerateResponse>`)
		}
		pulls++
		item := `<h:CIM_SoftwareIdentity xmlns:h="x"><h:InstanceID>` + strings.Repeat("I", pulls) + `</h:InstanceID></h:CIM_SoftwareIdentity>`
		tail := `<g:EnumerationContext>0` + string(rune('0'+pulls)) + `000000-0000-0000-0000-000000000000</g:EnumerationContext>`
		if pulls == 3 {
			tail = `<g:EndOfSequence></g:EndOfSequence>`
		}
		return 200, amtResponse(relatesTo, ActionPull+"Response", uri, NSEnumeration,
			`<g:PullResponse xmlns:g="{NS}"><g:Items>`+item+`</g:Items>`+tail+`</g:PullResponse>`)
	}
	items, err := s.client(t, nil).EnumerateAll(context.Background(), uri)
	require.NoError(t, err)
	type sid struct{ InstanceID string }
	got, err := decodeItems[sid](items)
	require.NoError(t, err)
	require.Equal(t, []sid{{"I"}, {"II"}, {"III"}}, got)
	require.Contains(t, s.requests()[3].body, "<EnumerationContext>01000000-")
	require.Contains(t, s.requests()[4].body, "<EnumerationContext>02000000-")
}

func TestContextCancelUnblocks(t *testing.T) {
	s := newTestAMT(t)
	s.hold = make(chan struct{})
	defer close(s.hold)
	c := s.client(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Get(ctx, AMT("AMT_GeneralSettings"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestExtraBytesAfterResponse(t *testing.T) {
	s := newTestAMT(t)
	s.respond = func(relatesTo, _ string) (int, string) { return 200, generalSettingsResponse(relatesTo) }
	c := s.client(t, func(cfg *Config) {
		inner := cfg.Dialer
		cfg.Dialer = DialerFunc(func(ctx context.Context) (net.Conn, error) {
			conn, err := inner.Dial(ctx)
			if err != nil {
				return nil, err
			}
			return &junkConn{Conn: conn}, nil
		})
	})
	_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
	require.ErrorContains(t, err, "unexpected bytes after the response")
}

// junkConn appends bytes after whatever the peer sends in a read that ends a response.
type junkConn struct{ net.Conn }

func (j *junkConn) Read(p []byte) (int, error) {
	n, err := j.Conn.Read(p)
	if n > 0 && n+4 <= len(p) && strings.HasSuffix(string(p[:n]), "</a:Envelope>") {
		n += copy(p[n:], "junk")
	}
	return n, err
}

// Relay mode: every exchange is one request written to a fresh TCP connection and everything read until EOF,
// as rpc-go does with LMS (protocol-rps-activation §1.6).
func TestRelayDialer(t *testing.T) {
	s := newTestAMT(t)
	var relayed []string
	x := ExchangerFunc(func(ctx context.Context, request []byte) ([]byte, error) {
		relayed = append(relayed, string(request))
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", s.ln.Addr().String())
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if _, err := conn.Write(request); err != nil {
			return nil, err
		}
		return io.ReadAll(conn)
	})
	c := s.client(t, func(cfg *Config) { cfg.Dialer = RelayDialer(x); cfg.DisableKeepAlive = true })
	getSettings(t, c)
	getSettings(t, c)
	require.Len(t, relayed, 3)
	require.NotContains(t, relayed[0], "Authorization:")
	require.Contains(t, relayed[1], "Authorization: Digest ")
	for _, r := range relayed {
		require.Contains(t, r, "\r\nConnection: close\r\n")
	}

	failing := ExchangerFunc(func(context.Context, []byte) ([]byte, error) { return nil, errors.New("rpc-go went away") })
	c = s.client(t, func(cfg *Config) { cfg.Dialer = RelayDialer(failing); cfg.DisableKeepAlive = true })
	_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
	require.ErrorContains(t, err, "rpc-go went away")
}

// A relay connection carries one exchange at a time: written again only once the answer was read (keep-alive).
func TestRelayConnExchangeAtATime(t *testing.T) {
	n := 0
	conn, err := RelayDialer(ExchangerFunc(func(_ context.Context, req []byte) ([]byte, error) {
		n++
		return []byte(fmt.Sprintf("ok %d %s", n, req)), nil
	})).Dial(context.Background())
	require.NoError(t, err)
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err)
	_, err = conn.Write([]byte("req"))
	require.NoError(t, err)
	_, err = conn.Write([]byte("again"))
	require.ErrorIs(t, err, errRelayUsed)
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	require.Equal(t, "ok 1 req", string(got))
	_, err = conn.Write([]byte("next"))
	require.NoError(t, err)
	got, err = io.ReadAll(conn)
	require.NoError(t, err)
	require.Equal(t, "ok 2 next", string(got))
	require.NoError(t, conn.Close())
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{Host: "h"})
	require.Error(t, err)
	_, err = New(Config{Dialer: DialerFunc(nil)})
	require.Error(t, err)
}

// Concurrent callers share one connection and one digest state; every request is authorized exactly once with
// its own nc.
func TestConcurrentCallers(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	seen := s.requests()
	require.Len(t, seen, 41)
	ncs := map[string]bool{}
	for _, r := range seen[1:] {
		require.True(t, r.authorized)
		require.False(t, ncs[r.nc], "nc %s reused", r.nc)
		ncs[r.nc] = true
	}
}

// A keep-alive relay connection outlives the call that dialled it: a later exchange is bounded by its own
// deadline, and moving the deadline into the past (the Client's cancellation) ends it.
func TestRelayConnLaterExchange(t *testing.T) {
	started := make(chan struct{}, 1)
	dialCtx, cancelDial := context.WithCancel(context.Background())
	conn, err := RelayDialer(ExchangerFunc(func(ctx context.Context, _ []byte) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})).Dial(dialCtx)
	require.NoError(t, err)
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Hour)))
	cancelDial()
	_, err = conn.Write([]byte("first"))
	require.ErrorIs(t, err, context.Canceled, "the first exchange belongs to the dialling call")

	done := make(chan error, 1)
	go func() {
		_, err := conn.Write([]byte("second"))
		done <- err
	}()
	<-started
	<-started
	select {
	case err := <-done:
		t.Fatalf("a later exchange ended with the dialling call: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, conn.SetDeadline(time.Unix(1, 0)))
	require.ErrorIs(t, <-done, context.Canceled)
}

// After a password change whose outcome was lost, AMT has one of two passwords: the refused one costs one try, and
// the accepted one is kept for later requests.
func TestFallbackPassword(t *testing.T) {
	s := newTestAMT(t)
	c := s.client(t, func(cfg *Config) { cfg.Password, cfg.FallbackPassword = "N3w-pass!", s.password })
	getSettings(t, c)
	getSettings(t, c)
	require.Equal(t, s.password, c.CurrentPassword())
	seen := s.requests()
	require.Len(t, seen, 4, "unauthenticated, refused, accepted, then the accepted one again")
	require.Equal(t, []bool{false, false, true, true}, []bool{seen[0].authorized, seen[1].authorized, seen[2].authorized, seen[3].authorized})

	// The stored password is the right one: the fallback is never tried.
	s2 := newTestAMT(t)
	c2 := s2.client(t, func(cfg *Config) { cfg.FallbackPassword = "0ld-pass!" })
	getSettings(t, c2)
	require.Len(t, s2.requests(), 2)
	require.Equal(t, s2.password, c2.CurrentPassword())

	// Neither: the usual give-up, with both tried, and neither in the error.
	s3 := newTestAMT(t)
	c3 := s3.client(t, func(cfg *Config) { cfg.Password, cfg.FallbackPassword = "N3w-pass!", "0ld-pass!" })
	_, err := c3.Get(context.Background(), AMT("AMT_GeneralSettings"))
	require.ErrorIs(t, err, ErrAuthFailed)
	require.NotContains(t, err.Error(), "pass!")
	require.Len(t, s3.requests(), 1+maxAuthTries)
}
