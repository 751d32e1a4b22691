package app

import (
	"context"
	"fmt"
	"time"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/reconcilers/host"
	"github.com/dmrm/dm-manager/reconcilers/tenant"
)

// startInventory registers with Inventory as a RESOURCE_MANAGER watching hosts and tenants. Events flow only
// once the reconcilers exist (startReconcilers); the client stays registered until everything that calls it has
// stopped.
func (a *app) startInventory(ctx context.Context) error {
	inv, err := inventory.New(ctx, inventory.Config{
		Address:       a.cfg.InventoryAddress,
		Insecure:      a.cfg.InsecureGRPC,
		CACertPath:    a.cfg.CACertPath,
		TLSCertPath:   a.cfg.TLSCertPath,
		TLSKeyPath:    a.cfg.TLSKeyPath,
		DialOptions:   a.opts.InventoryDialOptions,
		ResyncPeriod:  a.cfg.ReconcilePeriod,
		EnableMetrics: a.cfg.EnableMetrics,
		Log:           a.log,
	})
	if err != nil {
		return fmt.Errorf("-inventoryAddress: %w", err)
	}
	a.inv = inv
	a.onStop("Inventory client", inv.Close)
	return nil
}

// startReconcilers starts the tenant and host reconcilers and what feeds them: Inventory events and the periodic
// resync (inventory.Client.Run), the gateway's session events, and each reconciler's own sweep. Activation
// outcomes are fed by the activation engine (startActivation).
func (a *app) startReconcilers(ctx context.Context) error {
	leader := tenant.NewPgLeader(a.store, a.cfg.ReplicaID)
	tenants, err := tenant.New(tenant.Config{
		CIRAServerAddress: a.cfg.CIRAServerAddress,
		PasswordPolicy:    string(a.cfg.PasswordPolicy),
		RequestTimeout:    a.cfg.RequestTimeout,
		ResyncPeriod:      a.cfg.ReconcilePeriod,
		Log:               a.log,
		Registerer:        a.reg,
	}, tenant.Deps{Tenants: a.inv, Store: a.store, Secrets: a.secrets, CA: a.ca, Leader: leader})
	if err != nil {
		return err
	}
	a.tenants = tenants
	a.onStop("tenant reconciler", func() {
		tenants.Stop()
		leader.Close()
	})

	desired := newDesiredHosts(a.inv)
	hosts, err := host.New(host.Config{
		Params: host.Params{
			CIRAServerAddress: a.cfg.CIRAServerAddress,
			SoftOffTimeout:    a.cfg.SoftPowerTimeout,
			DisconnectGrace:   a.cfg.StatusChangeGracePeriod,
			ReplicaID:         a.cfg.ReplicaID,
		},
		Parallelism:    a.cfg.Parallelism,
		RequestTimeout: a.cfg.RequestTimeout,
		ResyncPeriod:   a.cfg.ReconcilePeriod,
		Log:            a.log,
		Clock:          a.opts.Clock,
		Registerer:     a.reg,
	}, host.Deps{
		Hosts: desired, Status: countedStatus{StatusWriter: a.inv, sink: a.events}, Devices: a.store, Journal: a.store, Secrets: a.secrets,
		Power: observedPower{sink: a.events, desired: desired, PowerControl: host.AMTPower{
			Clients: a.amtClients.For, // a request's errors carry wsman's write outcome, which host.Classify reads
		}},
		Presence: host.PresenceFunc(a.localSession),
		Leader:   leader, // hosts connected nowhere are the tenant leader's (reconcilers/host/actor.go)
	})
	if err != nil {
		return err
	}
	a.hosts = hosts
	a.onStop("host reconciler", hosts.Stop)

	a.feed(ctx)
	return nil
}

// localSession tells the host reconciler whether this replica holds the device's CIRA session, and since when.
func (a *app) localSession(guid string) (time.Time, bool) {
	s, ok := a.gateway.Session(guid)
	return s.ConnectedAt, ok
}

// feed runs the producers of reconcile requests. They stop (and are waited for) before the reconcilers do, so no
// request is enqueued into a stopped controller. The Inventory event stream closing ends the program: a restart
// is how an RM registers again (emf-conventions §1.2).
func (a *app) feed(ctx context.Context) {
	runCtx, stopFeeds := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{}, 4)
	run := func(f func()) {
		go func() {
			defer func() { done <- struct{}{} }()
			f()
		}()
	}
	run(func() {
		err := a.inv.Run(runCtx, inventory.Handlers{Host: a.hosts.OnHost, Tenant: a.tenants.OnTenant})
		if err != nil {
			a.fail(err)
		}
	})
	run(func() { _ = a.tenants.Run(runCtx) })
	run(func() { _ = a.hosts.Run(runCtx) })
	run(func() { a.forwardSessions(runCtx, a.gatewayEvents) })
	a.onStop("reconcile feeds", func() {
		stopFeeds()
		for range 4 {
			<-done
		}
	})
}

// forwardSessions hands the gateway's connect/disconnect events to the host reconciler. A lost event (the
// gateway never waits for a slow subscriber) is repaired by the periodic resync, which re-reads presence.
func (a *app) forwardSessions(ctx context.Context, events <-chan ciragw.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			a.hosts.PresenceChanged(ev.Tenant, ev.GUID, ev.Kind == ciragw.Connected, ev.At)
		}
	}
}
