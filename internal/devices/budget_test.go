package devices

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
)

// silentGateway holds every device's session and opens channels to a device that reads requests and never answers.
type silentGateway struct{ tenant string }

func (g silentGateway) Session(guid string) (ciragw.SessionInfo, bool) {
	return ciragw.SessionInfo{GUID: guid, Tenant: g.tenant, ConnectedAt: time.Unix(1, 0)}, true
}

func (silentGateway) OpenChannel(context.Context, string, uint16) (net.Conn, error) {
	ours, theirs := net.Pipe()
	go func() { _, _ = io.Copy(io.Discard, theirs) }()
	return ours, nil
}

// RequestTimeout (-amtRequestTimeout in the app) bounds one exchange, whatever budget the caller's context has
// left: a device that stops answering costs that much, not the reconcile's whole -requestTimeout.
func TestRequestTimeoutBoundsOneExchange(t *testing.T) {
	st, sec := backends(t)
	tenant := newTenant(t, st)
	dev := recordDevice(t, st, sec, tenant)
	clients := NewAMTClients(st, sec, silentGateway{tenant}, ClientOptions{RequestTimeout: 300 * time.Millisecond},
		zerolog.Nop())
	defer clients.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // the reconcile's budget
	defer cancel()
	c, err := clients.For(ctx, tenant, dev.guid)
	require.NoError(t, err)
	start := time.Now()
	_, err = c.PowerState(ctx)
	took := time.Since(start)
	require.ErrorContains(t, err, "no response from AMT within 300ms")
	require.Less(t, took, 5*time.Second)
	require.NoError(t, ctx.Err(), "the reconcile's budget is left for what comes next")
}
