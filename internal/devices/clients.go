package devices

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// amtAdminUser is the digest user of an activated device; MPS hard-codes it (protocol-cira-wsman §4.1).
const amtAdminUser = "admin"

// Gateway is what AMTClients needs of the CIRA gateway; (*ciragw.Gateway) implements it.
type Gateway interface {
	dmtclient.ChannelOpener
	Session(guid string) (ciragw.SessionInfo, bool)
}

// ClientOptions tune AMTClients. Zero values take the defaults named in the comments.
type ClientOptions struct {
	// Replica is this replica's id (-replicaID), to tell a session held elsewhere from a stale record.
	Replica string
	// RequestTimeout bounds one WS-Man exchange (default 30s; the app passes -amtRequestTimeout).
	RequestTimeout time.Duration
	// OpenTimeout bounds one channel open (default dmtclient.DefaultCIRAOpenTimeout).
	OpenTimeout time.Duration
	// Forward, when set, reaches devices whose session another replica holds: each WS-Man exchange goes to the
	// owner recorded in the store (internal/replica). Nil: such devices are *NotConnectedError naming the owner.
	Forward Forwarder
	// ObserveWSMan is told the duration of every WS-Man exchange (the gateway's latency histogram); optional.
	ObserveWSMan func(time.Duration)
}

// Forwarder sends one raw WS-Man exchange for a device to the replica at address; (*replica.Client) implements
// it. Its errors carry the owner's write outcome (wsman.WrittenOf), and replica.ErrMoved when the owner has moved.
type Forwarder interface {
	Exchange(ctx context.Context, address, guid string, request []byte) ([]byte, error)
}

// AMTClients hands out AMT clients that reach devices through their CIRA session on this replica. One client is
// kept per device and session, so the digest challenge and nonce count are reused across calls (§8.3) and the
// store and secrets are read once per session, not per call.
type AMTClients struct {
	st   *store.Store
	sec  secrets.Store
	gw   Gateway
	opts ClientOptions
	log  zerolog.Logger

	mu      sync.Mutex
	clients map[string]*clientEntry // by GUID
}

type clientEntry struct {
	tenant  string
	session time.Time // ConnectedAt of the session the client was made for
	owner   string    // "" for a local session; else the replica the exchanges are forwarded to
	c       *amt.Client
}

// NewAMTClients returns an AMTClients over the gateway gw.
func NewAMTClients(st *store.Store, sec secrets.Store, gw Gateway, opts ClientOptions, log zerolog.Logger) *AMTClients {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	return &AMTClients{st: st, sec: sec, gw: gw, opts: opts, log: log.With().Str("component", "amt-clients").Logger(),
		clients: make(map[string]*clientEntry)}
}

// For returns the AMT client of the tenant's device. Errors: ErrNotFound (not this tenant's device),
// *NotConnectedError (errors.Is ErrNotConnected), ErrNoCredentials, or a store/secrets failure. A call on the
// returned client that gets no answer fails with a *wsman.ExchangeError saying whether its request may have
// reached AMT (wsman.WrittenOf); NoSession tells a lost or missing session.
func (c *AMTClients) For(ctx context.Context, tenant, guid string) (*amt.Client, error) {
	guid, tenant = strings.ToLower(guid), strings.ToLower(tenant)
	sess, connected := c.gw.Session(guid)
	if !connected || sess.Tenant != tenant {
		d, err := c.device(ctx, tenant, guid)
		if err != nil {
			return nil, err
		}
		nc := &NotConnectedError{GUID: guid}
		if d.ConnectionState == store.ConnectionConnected && d.OwnerReplica != "" && d.OwnerReplica != c.opts.Replica {
			nc.OwnerReplica, nc.OwnerAddress = d.OwnerReplica, d.OwnerAddress
			if c.opts.Forward != nil && d.OwnerAddress != "" {
				return c.forwarded(ctx, tenant, guid, d)
			}
		}
		return nil, nc
	}
	c.mu.Lock()
	e, ok := c.clients[guid]
	c.mu.Unlock()
	if ok && e.owner == "" && e.tenant == tenant && e.session.Equal(sess.ConnectedAt) {
		return e.c, nil
	}
	// The session was authenticated as this tenant's device, so the device record is not read; its secret is,
	// and a device deleted since (secret gone) is told apart from one without credentials by its record.
	password, previous, err := c.passwords(ctx, tenant, guid)
	if errors.Is(err, ErrNoCredentials) {
		if _, derr := c.device(ctx, tenant, guid); derr != nil {
			return nil, derr
		}
	}
	if err != nil {
		return nil, err
	}
	ws, err := dmtclient.NewCIRAClient(dmtclient.CIRAClientConfig{
		Gateway: notConnectedMapper{c.gw}, GUID: guid, Username: amtAdminUser, Password: password,
		FallbackPassword: previous, OpenTimeout: c.opts.OpenTimeout, Timeout: c.opts.RequestTimeout,
		Observe: c.opts.ObserveWSMan,
	})
	if err != nil {
		return nil, fmt.Errorf("devices: WS-Man client for device %s: %w", guid, err)
	}
	return c.keep(guid, &clientEntry{tenant: tenant, session: sess.ConnectedAt, c: amt.New(ws)}), nil
}

// device reads the tenant's device record: ErrNotFound when it is not the tenant's.
func (c *AMTClients) device(ctx context.Context, tenant, guid string) (store.Device, error) {
	d, err := c.st.GetDevice(ctx, guid)
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) || err == nil && d.TenantID != tenant:
		return store.Device{}, fmt.Errorf("%w: %s", ErrNotFound, guid)
	case err != nil:
		return store.Device{}, fmt.Errorf("devices: looking up device %s: %w", guid, err)
	}
	return d, nil
}

// keep caches e as the device's client, closing the one it replaces, and returns e's client.
func (c *AMTClients) keep(guid string, e *clientEntry) *amt.Client {
	c.mu.Lock()
	old := c.clients[guid]
	c.clients[guid] = e
	c.mu.Unlock()
	if old != nil {
		_ = old.c.WSMan().Close()
	}
	return e.c
}

// passwords reads the device's AMT admin password and, while a change of it is under way (internal/rps records
// the new one with the old one before asking AMT), the one AMT had before: AMT has one of the two.
func (c *AMTClients) passwords(ctx context.Context, tenant, guid string) (password, previous string, err error) {
	path, err := secrets.Device(tenant, guid)
	if err != nil {
		return "", "", fmt.Errorf("devices: secret path of device %s: %w", guid, err)
	}
	m, err := c.sec.Get(ctx, path)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		return "", "", fmt.Errorf("%w: device %s (tenant %s)", ErrNoCredentials, guid, tenant)
	case err != nil:
		return "", "", fmt.Errorf("devices: reading AMT credentials of device %s: %w", guid, err)
	}
	if m[secrets.KeyAMTPassword] == "" {
		return "", "", fmt.Errorf("%w: device %s (tenant %s)", ErrNoCredentials, guid, tenant)
	}
	return m[secrets.KeyAMTPassword], m[secrets.KeyPreviousAMTPassword], nil
}

// Forget drops the device's client (its idle channel is closed); call it when the device is deleted or its AMT
// password changes. Calls already holding the client finish with it.
func (c *AMTClients) Forget(guid string) {
	guid = strings.ToLower(guid)
	c.mu.Lock()
	e := c.clients[guid]
	delete(c.clients, guid)
	c.mu.Unlock()
	if e != nil {
		_ = e.c.WSMan().Close()
	}
}

// Watch drops clients of devices whose session ended, until events is closed or ctx ends. Feed it
// (*ciragw.Gateway).Subscribe(); For also notices a replaced session by itself, so a dropped event costs only
// memory until the next For.
func (c *AMTClients) Watch(ctx context.Context, events <-chan ciragw.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Kind == ciragw.Disconnected {
				c.Forget(ev.GUID)
			}
		}
	}
}

// Close drops every client.
func (c *AMTClients) Close() {
	c.mu.Lock()
	all := c.clients
	c.clients = make(map[string]*clientEntry)
	c.mu.Unlock()
	for _, e := range all {
		_ = e.c.WSMan().Close()
	}
}

// notConnectedMapper names a channel that cannot be opened for want of a session *NotConnectedError. What happens
// after the open is told by the wsman client's write outcome (wsman.WrittenOf), decided where the request is
// written: a session that ends before any byte of it left is NotWritten, after is PossiblyWritten, and a hard
// power action that was possibly written must never be sent again (architecture.md, Main flows 4).
type notConnectedMapper struct{ gw Gateway }

func (m notConnectedMapper) OpenChannel(ctx context.Context, guid string, port uint16) (net.Conn, error) {
	conn, err := m.gw.OpenChannel(ctx, guid, port)
	if err != nil && NoSession(err) {
		return nil, &NotConnectedError{GUID: guid, Err: err}
	}
	return conn, err
}

// NoSession reports an error caused by the device having no CIRA session (here, or at the replica the exchange
// was forwarded to), whether before or after the request was written: ask wsman.WrittenOf which.
func NoSession(err error) bool {
	return errors.Is(err, ErrNotConnected) || errors.Is(err, ciragw.ErrDeviceNotConnected) ||
		errors.Is(err, ciragw.ErrSessionClosed)
}
