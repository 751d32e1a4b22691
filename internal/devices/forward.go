package devices

import (
	"context"
	"errors"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/replica"
	"github.com/dmrm/dm-manager/internal/store"
)

// forwarded returns a client whose WS-Man exchanges go to the replica holding the device's session (d, as just
// read from the store). Digest authentication stays between this client and AMT; the owner relays bytes.
func (c *AMTClients) forwarded(ctx context.Context, tenant, guid string, d store.Device) (*amt.Client, error) {
	owner := d.OwnerReplica + "@" + d.OwnerAddress
	c.mu.Lock()
	e, ok := c.clients[guid]
	c.mu.Unlock()
	if ok && e.owner == owner && e.tenant == tenant && e.session.Equal(d.ConnectedAt) {
		return e.c, nil
	}
	password, previous, err := c.passwords(ctx, tenant, guid)
	if err != nil {
		return nil, err
	}
	x := &routedExchanger{c: c, guid: guid, replica: d.OwnerReplica, address: d.OwnerAddress}
	ws, err := wsman.New(wsman.Config{
		Dialer: wsman.RelayDialer(x), Host: dmtclient.CIRADialer{GUID: guid}.Host(), Username: amtAdminUser,
		Password: password, FallbackPassword: previous,
		Timeout: c.opts.RequestTimeout, // keep-alive: the owner keeps AMT's channel open
	})
	if err != nil {
		return nil, fmt.Errorf("devices: WS-Man client for device %s: %w", guid, err)
	}
	return c.keep(guid, &clientEntry{tenant: tenant, session: d.ConnectedAt, owner: owner, c: amt.New(ws)}), nil
}

// routedExchanger carries one exchange to the device's owner. When the owner answers that it holds no session
// (the device moved, the request was not written) it looks the owner up again and tries once more: at the new
// owner, or over this replica's own session if the device came here. A request that may have been written is
// never sent again. Failures keep the write outcome decided where the request was (or was not) written; one that
// never left is also *NotConnectedError, naming the owner it was meant for.
type routedExchanger struct {
	c                *AMTClients
	guid             string
	replica, address string
}

func (x *routedExchanger) Exchange(ctx context.Context, request []byte) ([]byte, error) {
	resp, err := x.c.opts.Forward.Exchange(ctx, x.address, x.guid, request)
	if !errors.Is(err, replica.ErrMoved) {
		return resp, x.notConnected(err)
	}
	moved := err
	d, err := x.c.st.GetDevice(ctx, x.guid)
	switch {
	case err != nil:
		return nil, x.notConnected(moved)
	case d.ConnectionState == store.ConnectionConnected && d.OwnerReplica == x.c.opts.Replica:
		if _, ok := x.c.gw.Session(x.guid); ok {
			return x.local(ctx, request)
		}
	case d.ConnectionState == store.ConnectionConnected && d.OwnerAddress != "" && d.OwnerAddress != x.address:
		resp, err := x.c.opts.Forward.Exchange(ctx, d.OwnerAddress, x.guid, request)
		return resp, x.notConnected(err)
	}
	return nil, x.notConnected(moved)
}

// local runs the exchange over this replica's own session, as the owner does for a forwarded one.
func (x *routedExchanger) local(ctx context.Context, request []byte) ([]byte, error) {
	conn, err := notConnectedMapper{x.c.gw}.OpenChannel(ctx, x.guid, dmtclient.AMTHTTPPort)
	if err != nil {
		return nil, &wsman.ExchangeError{Written: wsman.NotWritten, Err: err}
	}
	defer conn.Close()
	return wsman.ExchangeRaw(ctx, conn, request, wsman.DefaultMaxResponseBytes)
}

// notConnected adds "not connected to this replica" to a request that never left; the error inside, and its
// write outcome, stay as they are.
func (x *routedExchanger) notConnected(err error) error {
	if err == nil || wsman.WrittenOf(err) != wsman.NotWritten || errors.Is(err, ErrNotConnected) {
		return err
	}
	nc := &NotConnectedError{GUID: x.guid, Err: err}
	if !errors.Is(err, replica.ErrMoved) {
		nc.OwnerReplica, nc.OwnerAddress = x.replica, x.address
	}
	return nc
}
