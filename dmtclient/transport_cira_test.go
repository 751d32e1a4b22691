package dmtclient

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
)

const testAdminPassword = "Sim-Admin-P4ss!"

// pipeGateway opens "channels" as in-memory pipes served by a simulated device, recording every open.
type pipeGateway struct {
	dev *amtsim.Device
	// closeIdle makes every channel refuse writes after its first exchange, as a channel AMT closed while it
	// sat idle does.
	closeIdle bool

	mu    sync.Mutex
	opens []string // "<guid>:<port>"
}

func (g *pipeGateway) OpenChannel(_ context.Context, guid string, port uint16) (net.Conn, error) {
	g.mu.Lock()
	g.opens = append(g.opens, guid+":"+strconv.Itoa(int(port)))
	g.mu.Unlock()
	ours, theirs := net.Pipe()
	go g.dev.ServeConn(theirs)
	if g.closeIdle {
		return &closedAfterOne{Conn: ours}, nil
	}
	return ours, nil
}

type closedAfterOne struct {
	net.Conn
	writes int
}

func (c *closedAfterOne) Write(p []byte) (int, error) {
	if c.writes++; c.writes > 1 {
		return 0, ciragw.ErrChannelClosedByDevice
	}
	return c.Conn.Write(p)
}

func (g *pipeGateway) openCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.opens)
}

// activatedDevice is a simulated device in CCM with testAdminPassword, activated over its local (LMS) port.
func activatedDevice(t *testing.T) *amtsim.Device {
	t.Helper()
	d, err := amtsim.New(amtsim.Config{GUID: "4C4C4544-004B-4210-8033-B6C04F504633"})
	require.NoError(t, err)
	user, pass := d.LSA()
	local, err := wsman.New(wsman.Config{
		Dialer: wsman.DialerFunc(func(context.Context) (net.Conn, error) {
			ours, theirs := net.Pipe()
			go d.ServeLocal(theirs)
			return ours, nil
		}),
		Host: "127.0.0.1:16992", Username: user, Password: pass,
	})
	require.NoError(t, err)
	defer local.Close()
	require.NoError(t, amt.New(local).Setup(t.Context(), amt.AdminPasswordHash(d.DigestRealm(), testAdminPassword)))
	require.Equal(t, amtsim.ClientControl, d.Mode())
	return d
}

func TestCIRAClientThroughChannels(t *testing.T) {
	d := activatedDevice(t)
	gw := &pipeGateway{dev: d}
	ws, err := NewCIRAClient(CIRAClientConfig{
		Gateway: gw, GUID: "4C4C4544-004B-4210-8033-B6C04F504633", Username: "admin", Password: testAdminPassword,
		Timeout: 10 * time.Second,
	})
	require.NoError(t, err)
	defer ws.Close()

	st, err := amt.New(ws).PowerState(t.Context())
	require.NoError(t, err)
	require.Equal(t, amt.PowerOn, st.PowerState)
	// The first request went without Authorization; AMT's 401 closes the channel, the retry opens another (§8.3).
	require.Equal(t, 2, gw.openCount())
	require.Equal(t, "4c4c4544-004b-4210-8033-b6c04f504633:16992", gw.opens[0], "GUID lower-case, WS-Man port")

	// The cached challenge and the kept-alive channel serve the next call without a new open.
	_, err = amt.New(ws).PowerState(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, gw.openCount())

	// A wrong password ends in the wsman auth error, each retry on a new channel.
	bad, err := NewCIRAClient(CIRAClientConfig{Gateway: gw, GUID: d.GUID().String(), Username: "admin", Password: "Wrong-P4ss!"})
	require.NoError(t, err)
	defer bad.Close()
	_, err = amt.New(bad).PowerState(t.Context())
	require.ErrorIs(t, err, wsman.ErrAuthFailed)
}

func TestCIRAClientReopensClosedChannel(t *testing.T) {
	gw := &pipeGateway{dev: activatedDevice(t), closeIdle: true}
	ws, err := NewCIRAClient(CIRAClientConfig{Gateway: gw, GUID: gw.dev.GUID().String(), Username: "admin", Password: testAdminPassword})
	require.NoError(t, err)
	defer ws.Close()
	c := amt.New(ws)
	_, err = c.PowerState(t.Context())
	require.NoError(t, err)
	n := gw.openCount()
	_, err = c.PowerState(t.Context())
	require.NoError(t, err, "a kept-alive channel the device closed is replaced by a new one")
	require.Greater(t, gw.openCount(), n)
}

type refusingGateway struct{ err error }

func (g refusingGateway) OpenChannel(ctx context.Context, _ string, _ uint16) (net.Conn, error) {
	if g.err != nil {
		return nil, g.err
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestCIRADialerErrors(t *testing.T) {
	errGone := errors.New("device has no CIRA session")
	_, err := CIRADialer{Gateway: refusingGateway{err: errGone}, GUID: "ABC"}.Dial(t.Context())
	require.ErrorIs(t, err, errGone)
	require.ErrorContains(t, err, "port 16992 of abc")

	start := time.Now()
	_, err = CIRADialer{Gateway: refusingGateway{}, GUID: "abc", OpenTimeout: 50 * time.Millisecond}.Dial(t.Context())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)

	_, err = CIRADialer{GUID: "abc"}.Dial(t.Context())
	require.Error(t, err)
	_, err = NewCIRAClient(CIRAClientConfig{GUID: "abc"})
	require.Error(t, err)
	_, err = NewCIRAClient(CIRAClientConfig{Gateway: refusingGateway{}})
	require.Error(t, err)

	require.Equal(t, "4c4c4544-004b-4210-8033-b6c04f504633:16992", CIRADialer{GUID: "4C4C4544-004B-4210-8033-B6C04F504633"}.Host())
	require.Equal(t, "abc:16994", CIRADialer{GUID: "abc", Port: 16994}.Host())
}
