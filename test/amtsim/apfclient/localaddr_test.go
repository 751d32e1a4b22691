package apfclient

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLocalAddr: the client dials from the configured source address (the
// load harness spreads links over several loopback addresses).
func TestLocalAddr(t *testing.T) {
	s := newTestServer(t)
	c, err := New(Config{ServerAddr: s.ln.Addr().String(), RootCA: s.rootPEM, ServerName: "cira.test",
		Username: user, Password: pass, GUID: guid, LocalAddr: "127.0.1.7",
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	sc := s.accept(t)
	host, _, err := net.SplitHostPort(sc.conn.RemoteAddr().String())
	require.NoError(t, err)
	require.Equal(t, "127.0.1.7", host)

	_, err = New(Config{ServerAddr: "x:1", GUID: guid, RootCA: s.rootPEM, LocalAddr: "not-an-ip"})
	require.ErrorContains(t, err, "not an IP address")
}
