package app

import (
	"context"
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/replica"
	"github.com/dmrm/dm-manager/internal/store"
)

// presenceFlushInterval is how often the gateway writes presence: a device that reconnects to another replica is
// recorded there within this time, and the replica holding its old session closes that within 1 s (takeover).
const presenceFlushInterval = 200 * time.Millisecond

// replicaParts are the scale-out parts: the client that forwards WS-Man exchanges to other replicas (with
// DM_REPLICA_SECRET) and the server that takes them (with -replicaListenAddress).
type replicaParts struct {
	replicaClient *replica.Client
}

// replicaTLS is the replica API's mutual TLS from the -replicaTLS* flags; nil configurations without them.
func (a *app) replicaTLS() (server, client *tls.Config, err error) {
	f := replica.TLSFiles{Cert: a.cfg.ReplicaTLSCertFile, Key: a.cfg.ReplicaTLSKeyFile, CA: a.cfg.ReplicaTLSCAFile}
	if !f.Enabled() {
		return nil, nil, nil
	}
	server, client, err = f.Load()
	if err != nil {
		return nil, nil, &ConfigError{Flag: "replicaTLSCertFile", Msg: err.Error()}
	}
	return server, client, nil
}

// startReplicaClient makes the forwarding client before the AMT clients need it.
func (a *app) startReplicaClient(context.Context) error {
	if a.cfg.ReplicaSecret == "" {
		return nil
	}
	_, tlsConf, err := a.replicaTLS()
	if err != nil {
		return err
	}
	c, err := replica.NewClient(a.cfg.ReplicaSecret, tlsConf)
	if err != nil {
		return &ConfigError{Flag: "replicaListenAddress", Msg: err.Error()}
	}
	a.replicaClient = c
	a.onStop("replica client", c.Close)
	return nil
}

// forwarder is the AMT clients' way to devices held by other replicas; nil without DM_REPLICA_SECRET.
func (a *app) forwarder() devices.Forwarder {
	if a.replicaClient == nil {
		return nil
	}
	return a.replicaClient
}

// startReplica serves the replica API (with -replicaListenAddress) and closes sessions other replicas took over.
// It stops before the gateway, so no forwarded exchange is cut off by the gateway's own stop.
func (a *app) startReplica(ctx context.Context) error {
	if a.lis.Replica != nil {
		srv, err := replica.NewServer(a.gateway, a.cfg.ReplicaSecret, a.log)
		if err != nil {
			return &ConfigError{Flag: "replicaListenAddress", Msg: err.Error()}
		}
		tlsConf, _, err := a.replicaTLS()
		if err != nil {
			return err
		}
		var opts []grpc.ServerOption
		if tlsConf != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
		}
		a.onStop("replica API channels", srv.Close) // after the server's stop (stops run in reverse)
		a.serveGRPC("replica API", a.lis.Replica, srv.GRPCServer(opts...))
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.store.WatchOwners(wctx, func() { a.closeTakenOver(wctx) }, a.ownerChanged)
	}()
	a.onStop("owner watch", func() {
		stop()
		<-done
	})
	return nil
}

// ownerChanged closes this replica's session of a device that connected to another replica since: AMT has one
// CIRA connection at a time, so the older one is dead weight and its owner record already moved on.
func (a *app) ownerChanged(c store.OwnerChange) {
	if c.Owner == a.cfg.ReplicaID {
		return
	}
	s, ok := a.gateway.Session(c.GUID)
	if !ok || s.ConnectedAt.After(c.ConnectedAt) {
		return
	}
	if a.gateway.Disconnect(c.GUID) {
		a.log.Info().Str("guid", c.GUID).Str("new_owner", c.Owner).Time("session_since", s.ConnectedAt).
			Msg("device reconnected to another replica; closed its old CIRA session here")
	}
}

// closeTakenOver checks every local session against the store once listening starts (again): owner changes
// announced while not listening are not delivered later.
func (a *app) closeTakenOver(ctx context.Context) {
	sessions := a.gateway.Sessions()
	guids := make([]string, len(sessions))
	for i, s := range sessions {
		guids[i] = s.GUID
	}
	elsewhere, err := a.store.OwnedElsewhere(ctx, a.cfg.ReplicaID, guids)
	if err != nil {
		a.log.Warn().Err(err).Msg("checking for sessions taken over by other replicas failed; such a session stays " +
			"until the device's keep-alive fails or its next owner change is announced")
		return
	}
	for _, c := range elsewhere {
		a.ownerChanged(c)
	}
}
