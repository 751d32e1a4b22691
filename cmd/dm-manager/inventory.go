package main

import (
	"context"
	"fmt"
	"sync"

	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/util"
)

// eventsBuffer sizes the Inventory events channel. The client drops events when it is full (best effort,
// emf-conventions §1.2); the periodic full reconcile repairs what is dropped.
const eventsBuffer = 100

// startInventory registers with Inventory as a RESOURCE_MANAGER watching HOST and TENANT, with the EMF
// resource-manager settings (emf-conventions §1.1): EnableRegisterRetry false, AbortOnUnknownClientError true.
//
// AbortOnUnknownClientError makes the client Fatal() the process (os.Exit, no deferred cleanup) when a call
// is made while unregistered or Inventory answers UNKNOWN_CLIENT; the client's heartbeat does the same
// after failed retries whatever the setting. We accept that: everything that must survive is in Postgres
// (journal, devices) or Inventory, live CIRA and activation sessions are lost on any restart by design
// (AMT reconnects, the journal resumes), and a restart is the one reliable way back to a registered client.
// The consequence for wiring: everything that calls the client must be stopped BEFORE the client is closed,
// or a call after Close would Fatal() in the middle of a graceful stop. Hence stops run in reverse order.
func (a *app) startInventory() error {
	events := make(chan *client.WatchEvents, eventsBuffer)
	var wg sync.WaitGroup
	// Not derived from the signal context: the stop sequence decides when the client goes.
	ctx, cancel := context.WithCancel(context.Background())
	inv, err := client.NewTenantAwareInventoryClient(ctx, client.InventoryClientConfig{
		Name:                      "dm-manager",
		Address:                   a.cfg.InventoryAddress,
		DialOptions:               a.hooks.inventoryDialOptions,
		Events:                    events,
		EnableRegisterRetry:       false,
		AbortOnUnknownClientError: true,
		ClientKind:                inv_v1.ClientKind_CLIENT_KIND_RESOURCE_MANAGER,
		ResourceKinds:             []inv_v1.ResourceKind{inv_v1.ResourceKind_RESOURCE_KIND_HOST, inv_v1.ResourceKind_RESOURCE_KIND_TENANT},
		EnableMetrics:             a.cfg.EnableMetrics,
		Wg:                        &wg,
		SecurityCfg: &client.SecurityConfig{
			Insecure: a.cfg.InsecureGRPC,
			CaPath:   a.cfg.CACertPath,
			CertPath: a.cfg.TLSCertPath,
			KeyPath:  a.cfg.TLSKeyPath,
		},
	})
	if err != nil {
		cancel()
		return fmt.Errorf("registering with Inventory at %s (-inventoryAddress): %w", a.cfg.InventoryAddress, err)
	}
	a.log.Info().Str("inventory", a.cfg.InventoryAddress).Msg("registered with Inventory; watching hosts and tenants")

	a.streamDone = make(chan struct{})
	go a.drainEvents(events)

	a.onStop(func() {
		if err := inv.Close(); err != nil {
			a.log.Warn().Err(err).Msg("closing the Inventory client")
		}
		cancel()
		clientDone := make(chan struct{})
		go func() { wg.Wait(); close(clientDone) }()
		a.waitFor(clientDone, "Inventory client")
		a.waitFor(a.streamDone, "Inventory event loop")
	})
	return nil
}

// drainEvents always empties the events channel (an undrained channel only fills and drops) and closes
// streamDone when the client closes the channel: on our Close, or when the stream ends on its own.
func (a *app) drainEvents(events <-chan *client.WatchEvents) {
	defer close(a.streamDone)
	for ev := range events {
		if e := a.log.Debug(); e.Enabled() {
			tenantID, resourceID, err := util.GetResourceKeyFromResource(ev.Event.GetResource())
			if err != nil {
				resourceID = ev.Event.GetResourceId()
			}
			e.Str("event", ev.Event.GetEventKind().String()).Str("tenant", tenantID).
				Str("resource_id", resourceID).Msg("Inventory event")
		}
		if a.hooks.onEvent != nil {
			a.hooks.onEvent(ev)
		}
	}
}
