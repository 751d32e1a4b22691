package ciragw

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
	"github.com/dmrm/dm-manager/test/amtsim/apfclient"
)

func TestReconnectReplacesSession(t *testing.T) {
	tg := startGateway(t)
	events, unsubscribe := tg.Subscribe()
	defer unsubscribe()
	first := dialRaw(t, tg)
	first.establish(docGUID)
	require.Equal(t, Connected, waitEvent(t, events).Kind)

	second := dialRaw(t, tg)
	second.establish(docGUID)
	first.expectEnd(apf.DisconnectByApplication)
	require.Equal(t, Disconnected, waitEvent(t, events).Kind)
	require.Equal(t, Connected, waitEvent(t, events).Kind)

	info, ok := tg.Session(docGUID)
	require.True(t, ok)
	require.Equal(t, second.conn.LocalAddr().String(), info.Remote)
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_sessions"))
	second.send(apf.KeepaliveRequest{Cookie: 1})
	second.expect(apf.KeepaliveReply{Cookie: 1})
}

func TestAPFClientReconnectsAfterCut(t *testing.T) {
	tg := startGateway(t)
	events, unsubscribe := tg.Subscribe()
	defer unsubscribe()
	c := startClient(t, tg, docGUID, docPass, echo)
	waitConnected(t, c, 1)
	require.Equal(t, Connected, waitEvent(t, events).Kind)

	c.Cut(50 * time.Millisecond)
	require.Equal(t, Disconnected, waitEvent(t, events).Kind)
	waitConnected(t, c, 2)
	require.Equal(t, Connected, waitEvent(t, events).Kind)

	conn, err := tg.OpenChannel(t.Context(), docGUID, apf.PortWSMan)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = conn.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
}

func TestShutdownSendsDisconnect(t *testing.T) {
	plog := newPresenceLog()
	tg := startGateway(t, func(c *Config) {
		c.Presence = plog
		c.PresenceFlushInterval = time.Hour
	})
	established := dialRaw(t, tg)
	established.establish(docGUID)
	inHandshake := dialRaw(t, tg)
	// An answer shows the gateway has finished its side of TLS (the pending gauge counts from accept): before that
	// there is no stream to carry a DISCONNECT, and a loaded machine can get there first.
	inHandshake.send(versionMsg(docGUID), apf.ServiceRequest{Name: apf.ServiceAuth})
	inHandshake.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	eventually(t, func() bool { return counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes") == 1 }, "handshake pending")

	c := startClient(t, tg, "33221100-5544-7766-8899-aabbccddeeff", docPass, nil)
	tg.auth.add("33221100-5544-7766-8899-aabbccddeeff", docPass)
	waitConnected(t, c, 1)

	tg.stop()
	established.expectEnd(apf.DisconnectByApplication)
	inHandshake.expectEnd(apf.DisconnectByApplication)
	s, err := c.WaitFor(t.Context(), func(s apfclient.State) bool { return !s.Connected })
	require.NoError(t, err)
	require.EqualValues(t, apf.DisconnectByApplication, s.LastDisconnect, "%v", s.LastError)

	// The final flush recorded everyone as disconnected.
	for _, guid := range []string{docGUID, "33221100-5544-7766-8899-aabbccddeeff"} {
		p, ok := plog.latest(guid)
		require.True(t, ok, guid)
		require.Equal(t, PresenceDisconnected, p.State, guid)
	}
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_sessions"))
}

// fleetAuth accepts any GUID with the doc password.
type fleetAuth struct{}

func (fleetAuth) Authenticate(_ context.Context, _, user, pass string) (string, error) {
	if user != docUser || pass != docPass {
		return "", ErrBadCredentials
	}
	return tenantA, nil
}

func fleetGUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func TestPresenceBatchedAndCoalesced(t *testing.T) {
	plog := newPresenceLog()
	tg := startGateway(t, func(c *Config) {
		c.Authenticator = fleetAuth{}
		c.Presence = plog
		c.PresenceFlushInterval = time.Hour // only the batch size triggers a write
		c.PresenceBatchSize = 3
	})
	devs := make([]*rawDevice, 3)
	for i := range devs {
		devs[i] = dialRaw(t, tg)
		devs[i].establish(fleetGUID(i))
	}
	<-plog.wrote
	batches := plog.all()
	require.Len(t, batches, 1, "one write for three connects")
	require.Len(t, batches[0], 3)
	// Keepalives never cause writes by themselves.
	for cookie := range uint32(20) {
		devs[0].send(apf.KeepaliveRequest{Cookie: cookie})
		devs[0].expect(apf.KeepaliveReply{Cookie: cookie})
	}
	require.Len(t, plog.all(), 1)
}

func TestLastSeenRefresh(t *testing.T) {
	plog := newPresenceLog()
	tg := startGateway(t, func(c *Config) {
		c.Presence = plog
		c.PresenceFlushInterval = 20 * time.Millisecond
		c.SweepInterval = 20 * time.Millisecond
		c.LastSeenInterval = time.Nanosecond
	})
	d := dialRaw(t, tg)
	d.establish(docGUID)
	eventually(t, func() bool { _, ok := plog.latest(docGUID); return ok }, "connected written")
	first, _ := plog.latest(docGUID)
	d.send(apf.KeepaliveRequest{Cookie: 1})
	d.expect(apf.KeepaliveReply{Cookie: 1})
	eventually(t, func() bool {
		p, _ := plog.latest(docGUID)
		return p.LastSeen.After(first.LastSeen)
	}, "last seen refreshed")
	p, _ := plog.latest(docGUID)
	require.Equal(t, PresenceConnected, p.State)
	require.True(t, p.At.Equal(first.At), "a refresh keeps the connect time")
}

// The presence flush runs on its own (short, for takeover) cadence; the registry walk that queues last-seen
// refreshes does not follow it.
func TestSweepHasItsOwnCadence(t *testing.T) {
	plog := newPresenceLog()
	tg := startGateway(t, func(c *Config) {
		c.Presence = plog
		c.PresenceFlushInterval = 20 * time.Millisecond
		c.SweepInterval = time.Hour
		c.LastSeenInterval = time.Nanosecond
	})
	d := dialRaw(t, tg)
	d.establish(docGUID)
	eventually(t, func() bool { _, ok := plog.latest(docGUID); return ok }, "connected written")
	first, _ := plog.latest(docGUID)
	d.send(apf.KeepaliveRequest{Cookie: 1})
	d.expect(apf.KeepaliveReply{Cookie: 1})
	// Many flushes pass; none carries a last-seen refresh, because no sweep ran.
	before := counter(t, tg.reg, "dm_manager_ciragw_presence_writes_total", "result", "ok")
	time.Sleep(10 * 20 * time.Millisecond)
	p, _ := plog.latest(docGUID)
	require.True(t, p.LastSeen.Equal(first.LastSeen), "no sweep, no last-seen refresh")
	require.Equal(t, before, counter(t, tg.reg, "dm_manager_ciragw_presence_writes_total", "result", "ok"))
}

func TestSlowSubscriberNeverBlocks(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.Authenticator = fleetAuth{}
		c.SubscriberBuffer = 1
	})
	_, unsubscribe := tg.Subscribe() // never read
	defer unsubscribe()
	for i := range 4 {
		dialRaw(t, tg).establish(fleetGUID(i))
	}
	require.Len(t, tg.Sessions(), 4)
	require.Equal(t, 3.0, counter(t, tg.reg, "dm_manager_ciragw_subscriber_events_dropped_total"))
}

func TestDisconnectAPI(t *testing.T) {
	tg := startGateway(t)
	d := dialRaw(t, tg)
	d.establish(docGUID)
	require.True(t, tg.Disconnect(docGUID))
	d.expectEnd(apf.DisconnectByApplication)
	eventually(t, func() bool { _, ok := tg.Session(docGUID); return !ok }, "session gone")
	require.False(t, tg.Disconnect(docGUID))
}

func TestPendingHandshakeCap(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.MaxPendingHandshakes = 1 })
	hold := dialRaw(t, tg) // TLS done, APF handshake pending
	hold.send(versionMsg(docGUID))
	eventually(t, func() bool { return counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes") == 1 }, "slot taken")
	conn, err := net.Dial("tcp", tg.addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err, "over the cap the connection is closed at once")
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_handshakes_total", "result", "overloaded"))
}

func TestCA(t *testing.T) {
	store := &memCAStore{}
	ca, err := LoadOrCreateCA(t.Context(), store)
	require.NoError(t, err)
	again, err := LoadOrCreateCA(t.Context(), store)
	require.NoError(t, err)
	require.Equal(t, 1, store.saves)
	require.Equal(t, ca.RootPEM(), again.RootPEM())

	der, err := base64.StdEncoding.DecodeString(ca.RootDERBase64())
	require.NoError(t, err)
	root, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.True(t, root.IsCA)
	block, _ := pem.Decode(ca.RootPEM())
	require.Equal(t, block.Bytes, der)

	cert, err := ca.ServerCertificate("mps.example.com", "10.1.2.3")
	require.NoError(t, err)
	require.Equal(t, "mps.example.com", cert.Leaf.Subject.CommonName)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	for _, name := range []string{"mps.example.com", "10.1.2.3"} {
		_, err = cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool})
		require.NoError(t, err, name)
	}
	require.NotZero(t, cert.Leaf.KeyUsage&x509.KeyUsageKeyEncipherment, "RSA key exchange needs it")

	_, err = ParseCA(ca.RootPEM(), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	require.Error(t, err)
	_, err = ca.ServerCertificate()
	require.Error(t, err)

	// AMT's TLS certificate (§2.10): over AMT's key, serverAuth, inside the root's validity, positive 16-byte serial.
	amtKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	amtDER, err := ca.AMTTLSCertificate(&amtKey.PublicKey, "amt-device")
	require.NoError(t, err)
	amtCert, err := x509.ParseCertificate(amtDER)
	require.NoError(t, err)
	require.True(t, amtKey.PublicKey.Equal(amtCert.PublicKey))
	require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, amtCert.ExtKeyUsage)
	require.Equal(t, 1, amtCert.SerialNumber.Sign())
	require.LessOrEqual(t, len(amtCert.SerialNumber.Bytes()), 16)
	require.True(t, amtCert.NotBefore.After(root.NotBefore) && amtCert.NotAfter.Before(root.NotAfter))
	_, err = amtCert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: root.NotBefore.Add(time.Hour)})
	require.NoError(t, err)
}

func TestAPFClientTrustsOnlyItsRoot(t *testing.T) {
	tg := startGateway(t)
	otherStore := &memCAStore{}
	other, err := LoadOrCreateCA(t.Context(), otherStore)
	require.NoError(t, err)
	tests := map[string]func(*apfclient.Config){
		"other root":        func(c *apfclient.Config) { c.RootCA = other.RootPEM() },
		"wrong name":        func(c *apfclient.Config) { c.ServerName = "other.test" },
		"root given as DER": nil,
	}
	for name, opt := range tests {
		t.Run(name, func(t *testing.T) {
			if opt == nil {
				ca, _ := testPKI()
				der, _ := pem.Decode(ca.RootPEM())
				c := startClient(t, tg, docGUID, docPass, nil, func(c *apfclient.Config) { c.RootCA = der.Bytes })
				waitConnected(t, c, 1)
				return
			}
			c := startClient(t, tg, docGUID, docPass, nil, opt)
			s, err := c.WaitFor(t.Context(), func(s apfclient.State) bool { return s.LastError != nil })
			require.NoError(t, err)
			require.ErrorContains(t, s.LastError, "certificate")
			require.Zero(t, s.Connects)
		})
	}
}

func TestWindowWaitsWithoutSpinning(t *testing.T) {
	var mu sync.Mutex
	w := window{cond: sync.NewCond(&mu)}
	got := make(chan uint32)
	go func() {
		mu.Lock()
		n, _ := w.reserve(10, func() error { return nil })
		mu.Unlock()
		got <- n
	}()
	select {
	case <-got:
		t.Fatal("reserve returned with an empty window")
	case <-time.After(50 * time.Millisecond):
	}
	mu.Lock()
	require.True(t, w.add(4))
	mu.Unlock()
	require.Equal(t, uint32(4), <-got)
	mu.Lock()
	defer mu.Unlock()
	require.True(t, w.add(1))
	require.False(t, w.add(1<<32-1), "overflow refused")
}
