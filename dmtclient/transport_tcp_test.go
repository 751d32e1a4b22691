package dmtclient

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTCPDialer(t *testing.T) {
	require.Equal(t, "127.0.0.1:16992", TCPDialer{Host: "127.0.0.1"}.Address())
	require.Equal(t, "[::1]:16992", TCPDialer{Host: "::1"}.Address())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	d := TCPDialer{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Timeout: 5 * time.Second}
	conn, err := d.Dial(t.Context())
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = d.Dial(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
