package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/hip/agent"
)

// fleet is the simulated machines: one amtsim device per host, each with its node agent.
type fleet struct {
	conn    *grpc.ClientConn
	devices map[string]*amtsim.Device // by host UUID
	agents  map[string]*agent.Agent
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// deviceTiming keeps the machines quick but visible: the OS takes 1.5s to boot or shut down.
var deviceTiming = amtsim.Config{
	PowerDelay: 300 * time.Millisecond, OSBootDelay: 1500 * time.Millisecond, OSShutdownDelay: 1500 * time.Millisecond,
}

// startFleet creates the devices (powered on, OS running, AMT in pre-provisioning) and starts their agents against
// dm-manager's southbound API with an agent token of the tenant.
func startFleet(o options, tenant string, uuids, names []string, log zerolog.Logger) (*fleet, error) {
	conn, err := grpc.NewClient(o.dmServerAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dm-manager southbound %s: %w", o.dmServerAddress, err)
	}
	token, err := agent.Token(tenant, time.Hour)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	f := &fleet{conn: conn, devices: map[string]*amtsim.Device{}, agents: map[string]*agent.Agent{}}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	client := pb.NewDeviceManagementClient(conn)
	for i, id := range uuids {
		cfg := deviceTiming
		cfg.GUID, cfg.Hostname, cfg.Log = id, names[i], log
		cfg.TLSEnforced = (i+1)*o.tlsEnforced/100 > i*o.tlsEnforced/100 // spread as amtsim.NewMixedFleet
		d, err := amtsim.New(cfg)
		if err != nil {
			f.stop()
			return nil, err
		}
		a, err := agent.New(agent.Config{Device: d, Client: client, Token: token, ActivationURL: o.activationURL,
			Heartbeat: o.heartbeat, Log: log})
		if err != nil {
			f.stop()
			return nil, err
		}
		f.devices[id], f.agents[id] = d, a
		f.wg.Go(func() { _ = a.Run(ctx) })
	}
	return f, nil
}

// linksUp counts devices whose CIRA tunnel to dm-manager's gateway is up.
func (f *fleet) linksUp() int {
	n := 0
	for _, a := range f.agents {
		if a.LinkUp() {
			n++
		}
	}
	return n
}

// activations counts rpc activate runs by all agents.
func (f *fleet) activations() int {
	n := 0
	for _, a := range f.agents {
		n += a.Status().Activations
	}
	return n
}

func (f *fleet) stop() {
	if f == nil {
		return
	}
	f.cancel()
	f.wg.Wait()
	_ = f.conn.Close()
}
