package devices

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// lossyGateway serves one simulated device over pipes and ends its CIRA session as ciragw does: open channels then
// fail reads and writes with ErrSessionClosed, new opens with ErrDeviceNotConnected.
type lossyGateway struct {
	dev           *amtsim.Device
	powerRequests atomic.Int32 // RequestPowerStateChange requests written to the device

	mu    sync.Mutex
	ended bool
	sides []net.Conn // the device's ends of the channels
}

func (g *lossyGateway) Session(guid string) (ciragw.SessionInfo, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return ciragw.SessionInfo{GUID: guid}, !g.ended
}

func (g *lossyGateway) OpenChannel(_ context.Context, guid string, _ uint16) (net.Conn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return nil, fmt.Errorf("%w: %s", ciragw.ErrDeviceNotConnected, guid)
	}
	ours, theirs := net.Pipe()
	g.sides = append(g.sides, theirs)
	go g.dev.ServeConn(theirs)
	return &lossyChannel{Conn: ours, g: g}, nil
}

func (g *lossyGateway) endSession() {
	g.mu.Lock()
	g.ended = true
	sides := g.sides
	g.mu.Unlock()
	for _, c := range sides {
		_ = c.Close()
	}
}

func (g *lossyGateway) isEnded() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ended
}

type lossyChannel struct {
	net.Conn
	g *lossyGateway
}

func (c *lossyChannel) Write(p []byte) (int, error) {
	if c.g.isEnded() {
		return 0, fmt.Errorf("%w: connection reset by peer", ciragw.ErrSessionClosed)
	}
	if bytes.Contains(p, []byte("RequestPowerStateChange_INPUT")) {
		c.g.powerRequests.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *lossyChannel) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.g.isEnded() {
		err = fmt.Errorf("%w: connection reset by peer", ciragw.ErrSessionClosed)
	}
	return n, err
}

// A hard power action whose session ends after the request reached AMT is "outcome unknown", never "not
// connected": only a request that provably never left may be sent again.
func TestSessionLossClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		before    func(t *testing.T, g *lossyGateway, c *amt.Client) // runs before the power request
		cutOnSend bool                                               // AMT accepts the request, then the session ends unanswered
		written   wsman.Written
		notConn   bool // also ErrNotConnected: the channel could not be opened
		sent      int32
	}{
		{name: "session ends after the request was written", before: readPower, cutOnSend: true,
			written: wsman.PossiblyWritten, sent: 1},
		{name: "session gone with an idle channel", before: func(t *testing.T, g *lossyGateway, c *amt.Client) {
			readPower(t, g, c)
			g.endSession()
		}, written: wsman.NotWritten},
		{name: "session gone before the channel open", before: func(_ *testing.T, g *lossyGateway, _ *amt.Client) { g.endSession() },
			written: wsman.NotWritten, notConn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &lossyGateway{}
			var cut atomic.Bool
			sim, err := amtsim.New(amtsim.Config{GUID: uuid.NewString(), PowerDelay: time.Hour,
				OnChange: func(*amtsim.Device, amtsim.State) {
					// Runs in the WS-Man handler once AMT accepted the request, before the answer is written.
					if tc.cutOnSend && g.powerRequests.Load() > 0 && cut.CompareAndSwap(false, true) {
						g.endSession()
					}
				}})
			require.NoError(t, err)
			g.dev = sim
			const password = "P@ssw0rd-session-loss"
			activate(t, sim, password)
			ws, err := dmtclient.NewCIRAClient(dmtclient.CIRAClientConfig{Gateway: notConnectedMapper{g},
				GUID: sim.GUID().String(), Username: amtAdminUser, Password: password, Timeout: 10 * time.Second})
			require.NoError(t, err)
			t.Cleanup(func() { _ = ws.Close() })
			c := amt.New(ws)

			tc.before(t, g, c)
			err = c.RequestPowerStateChange(t.Context(), amt.PowerCycleOffSoft) // a hard power cycle on AMT
			require.Equal(t, tc.written, wsman.WrittenOf(err), "%v", err)
			require.True(t, NoSession(err), "%v", err)
			require.Equal(t, tc.notConn, errors.Is(err, ErrNotConnected), "%v", err)
			require.Equal(t, tc.sent, g.powerRequests.Load(), "power requests that reached AMT")
		})
	}
}

// readPower leaves the client with an idle keep-alive channel, which the power request then reuses.
func readPower(t *testing.T, _ *lossyGateway, c *amt.Client) {
	_, err := c.PowerState(t.Context())
	require.NoError(t, err)
}
