package apfclient

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChannelDeadlines covers re-arming a channel's deadline timers: a deadline moved
// later or cleared does not fire at its old time, and each still fires at its own.
func TestChannelDeadlines(t *testing.T) {
	ch := newChannel(nil, 0x10, 1, 0, 8192) // no send credits: Write waits for its deadline
	p := make([]byte, 8)

	start := time.Now()
	require.NoError(t, ch.SetReadDeadline(start.Add(10*time.Millisecond)))
	require.NoError(t, ch.SetReadDeadline(start.Add(60*time.Millisecond)))
	_, err := ch.Read(p)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)

	require.NoError(t, ch.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	require.NoError(t, ch.SetReadDeadline(time.Time{}))
	got := make(chan error, 1)
	go func() {
		_, err := ch.Read(p)
		got <- err
	}()
	time.Sleep(40 * time.Millisecond) // past the cleared deadline
	require.NoError(t, ch.receive([]byte("x")))
	require.NoError(t, <-got)

	require.NoError(t, ch.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = ch.Read(p)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	require.NoError(t, ch.SetWriteDeadline(time.Now().Add(20*time.Millisecond)))
	n, err := ch.Write([]byte("POST"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Zero(t, n)
}
