package wsman

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// errNoSession stands for a dialer that finds no session to the device (devices.ErrNotConnected over CIRA).
var errNoSession = errors.New("no session to the device")

// retryAMT is a test AMT whose client has one authenticated keep-alive connection open and a dialer that fails
// with errNoSession once noSession is set.
func retryAMT(t *testing.T) (*testAMT, *Client, *atomic.Bool) {
	s := newTestAMT(t)
	s.respond = func(relatesTo, body string) (int, string) {
		if strings.Contains(body, "Unprovision_INPUT") {
			return 200, amtResponse(relatesTo, AMT("AMT_SetupAndConfigurationService")+"/UnprovisionResponse",
				AMT("AMT_SetupAndConfigurationService"), AMT("AMT_SetupAndConfigurationService"),
				`<g:Unprovision_OUTPUT xmlns:g="{NS}"><g:ReturnValue>0</g:ReturnValue></g:Unprovision_OUTPUT>`)
		}
		return 200, generalSettingsResponse(relatesTo)
	}
	var noSession atomic.Bool
	c := s.client(t, func(cfg *Config) {
		inner := cfg.Dialer
		cfg.Dialer = DialerFunc(func(ctx context.Context) (net.Conn, error) {
			if noSession.Load() {
				return nil, errNoSession
			}
			return inner.Dial(ctx)
		})
	})
	getSettings(t, c)
	require.Len(t, s.requests(), 2, "one 401, then the authorized Get on the connection kept alive")
	return s, c, &noSession
}

var unprovision = func(c *Client) error {
	_, err := c.Invoke(context.Background(), AMT("AMT_SetupAndConfigurationService"), "Unprovision", Int("ProvisioningMode", 1))
	return err
}

// AMT reads the whole request over the reused connection, then the connection dies without a byte of answer:
// AMT may have acted. Only an idempotent request is sent again; anything else fails with the outcome unknown.
func TestNoRetryAfterWrittenRequest(t *testing.T) {
	ctx := context.Background()
	uri := AMT("AMT_GeneralSettings")
	for _, tc := range []struct {
		name    string
		call    func(*Client) error
		retried bool
	}{
		{"Get", func(c *Client) error { _, err := c.Get(ctx, uri); return err }, true},
		{"Invoke", unprovision, false},
		{"Put", func(c *Client) error { _, err := c.Put(ctx, uri, []Param{Text("HostName", "h")}); return err }, false},
		{"Delete", func(c *Client) error { return c.Delete(ctx, uri) }, false},
		{"Pull", func(c *Client) error { _, err := c.Pull(ctx, uri, "01000000-0000-0000-0000-000000000000"); return err }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := retryAMT(t)
			s.mu.Lock()
			s.dropNext = 1
			s.mu.Unlock()
			err := tc.call(c)
			seen := s.requests()
			if tc.retried {
				require.NoError(t, err)
				require.Greater(t, len(seen), 3, "the dropped request was sent again")
				require.Equal(t, seen[2].body, seen[len(seen)-1].body)
				require.NotEqual(t, seen[2].conn, seen[len(seen)-1].conn, "over a fresh connection")
				return
			}
			require.ErrorIs(t, err, errNoResponse)
			require.Equal(t, PossiblyWritten, WrittenOf(err))
			require.Len(t, seen, 3, "sent once, never again")
			getSettings(t, c) // the dead connection was dropped
		})
	}
}

// A reused connection found closed when the request is written carries nothing to AMT: any request is retried.
func TestRetryWhenClosedBeforeWrite(t *testing.T) {
	s, c, _ := retryAMT(t)
	c.mu.Lock()
	_ = c.conn.Close()
	c.mu.Unlock()
	require.NoError(t, unprovision(c))
	seen := s.requests()
	require.Len(t, seen, 3)
	require.Equal(t, 3, seen[2].conn, "over a fresh connection")
}

// A retry that finds no session must not hide that the first attempt may have reached AMT; when the first attempt
// provably did not, the dialer's "no session" is the answer.
func TestFailedRetryKeepsFirstOutcome(t *testing.T) {
	t.Run("written", func(t *testing.T) {
		s, c, noSession := retryAMT(t)
		s.mu.Lock()
		s.dropNext = 1
		s.mu.Unlock()
		noSession.Store(true)
		_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
		require.ErrorIs(t, err, errNoResponse)
		require.NotErrorIs(t, err, errNoSession)
		require.Equal(t, PossiblyWritten, WrittenOf(err), "the first attempt's outcome")
		require.ErrorContains(t, err, "retry over a new connection: connect to AMT: no session to the device")
	})
	t.Run("not written", func(t *testing.T) {
		s, c, noSession := retryAMT(t)
		c.mu.Lock()
		_ = c.conn.Close()
		c.mu.Unlock()
		noSession.Store(true)
		err := unprovision(c)
		require.ErrorIs(t, err, errNoSession)
		require.Equal(t, NotWritten, WrittenOf(err))
		require.Len(t, s.requests(), 2)
	})
}

// With RetryNewConnections (rpc-go's TLS tunnel, where every exchange has its own connection) a connection that
// dies after the request is treated as a reused one's: a Get is sent again over a new connection, an Invoke is not.
func TestRetryNewConnections(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retry   bool
		call    func(*Client) error
		retried bool
	}{
		{"Get", true, func(c *Client) error { _, err := c.Get(context.Background(), AMT("AMT_GeneralSettings")); return err }, true},
		{"Invoke", true, unprovision, false},
		{"Get without the option", false, func(c *Client) error {
			_, err := c.Get(context.Background(), AMT("AMT_GeneralSettings"))
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestAMT(t)
			s.respond = func(relatesTo, body string) (int, string) {
				if strings.Contains(body, "Unprovision_INPUT") {
					return 200, amtResponse(relatesTo, AMT("AMT_SetupAndConfigurationService")+"/UnprovisionResponse",
						AMT("AMT_SetupAndConfigurationService"), AMT("AMT_SetupAndConfigurationService"),
						`<g:Unprovision_OUTPUT xmlns:g="{NS}"><g:ReturnValue>0</g:ReturnValue></g:Unprovision_OUTPUT>`)
				}
				return 200, generalSettingsResponse(relatesTo)
			}
			c := s.client(t, func(cfg *Config) { cfg.DisableKeepAlive, cfg.RetryNewConnections = true, tc.retry })
			getSettings(t, c) // 401, then the authorized Get
			s.mu.Lock()
			s.dropNext = 1
			s.mu.Unlock()
			err := tc.call(c)
			seen := s.requests()
			if tc.retried {
				require.NoError(t, err)
				require.Greater(t, len(seen), 3, "the dropped request was sent again")
				require.Equal(t, seen[2].body, seen[len(seen)-1].body)
				require.NotEqual(t, seen[2].conn, seen[3].conn, "over a new connection")
				return
			}
			require.True(t, Dropped(err), err)
			require.Len(t, seen, 3, "sent once, never again")
			require.Equal(t, PossiblyWritten, WrittenOf(err))
		})
	}
}

// A relayed exchange keeps the outcome its relay decided; a relay failure that carries none may have reached AMT.
func TestRelayKeepsWriteOutcome(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Written
	}{
		{"relay decided not written", &ExchangeError{Written: NotWritten, Err: errNoSession}, NotWritten},
		{"relay decided possibly written", &ExchangeError{Written: PossiblyWritten, Err: errNoSession}, PossiblyWritten},
		{"relay failed without an outcome", errNoSession, PossiblyWritten},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := ExchangerFunc(func(context.Context, []byte) ([]byte, error) { return nil, tc.err })
			c, err := New(Config{Dialer: RelayDialer(x), Host: "h", DisableKeepAlive: true})
			require.NoError(t, err)
			_, err = c.Get(context.Background(), AMT("AMT_GeneralSettings"))
			require.ErrorIs(t, err, errNoSession)
			require.Equal(t, tc.want, WrittenOf(err))
		})
	}
}
