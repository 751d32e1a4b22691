// Package agent plays the Platform Manageability Agent (PMA) of an edge node for a simulated AMT device, the way
// the real agent drives activation (emf-conventions §6): it reports the AMT SKU once, asks dm-manager's southbound
// gRPC for activation details every heartbeat, runs rpc-go's "activate" against the activation websocket with the
// profile and password it was given, and reports the result from AMT's remote-access (CIRA) status. The demo and
// the local HIP stack use it so that activation takes the same path as on a real node.
package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// PMA's defaults (emf-conventions §6): heartbeat 10s, 5s per call.
const (
	DefaultHeartbeat   = 10 * time.Second
	DefaultCallTimeout = 5 * time.Second
)

// Config is one node agent.
type Config struct {
	Device *amtsim.Device
	// Client reaches dm-manager's DeviceManagement service (-dmServerAddress).
	Client pb.DeviceManagementClient
	// Token is sent as "authorization: Bearer <token>" on every call, as PMA sends its access token; with
	// dm-manager's -enableAuth=false the tenant is read from its "<project>_en-agent-rw" role (see Token()).
	Token string
	// ActivationURL is where rpc-go connects (PMA: wss://<rpsAddress>/activate).
	ActivationURL string
	Dialer        *websocket.Dialer // nil: rpc-go's default dialer
	// CIRA adjusts the device's CIRA client (e.g. the gateway's root when it is not the one AMT was given); its
	// Log is replaced by Log.
	CIRA        amtsim.CIRAOptions
	Heartbeat   time.Duration // DefaultHeartbeat when 0
	CallTimeout time.Duration // DefaultCallTimeout when 0
	Log         zerolog.Logger
}

// Remote-access states as `rpc amtinfo` prints "RAS Remote Status".
const (
	RASNotConnected = "not connected"
	RASConnecting   = "connecting"
	RASConnected    = "connected"
)

// Status is what the agent has seen so far.
type Status struct {
	SKUReported bool
	Activations int    // rpc activate runs
	LastResult  string // last rpc-go result text or error
	Reported    pb.ActivationStatus
	RAS         string
}

// Agent is one node agent; create it with New and run it with Run.
type Agent struct {
	cfg  Config
	log  zerolog.Logger
	link atomic.Bool

	mu sync.Mutex
	st Status
}

// New checks the configuration.
func New(cfg Config) (*Agent, error) {
	if cfg.Device == nil || cfg.Client == nil || cfg.ActivationURL == "" {
		return nil, errors.New("agent: Device, Client and ActivationURL are required")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	a := &Agent{cfg: cfg, log: cfg.Log.With().Str("guid", cfg.Device.GUID().String()).Logger()}
	a.st.RAS = RASNotConnected
	return a, nil
}

// Status returns a snapshot.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st
	s.RAS = a.ras()
	return s
}

// LinkUp tells whether the device's CIRA tunnel is up.
func (a *Agent) LinkUp() bool { return a.link.Load() }

// Run keeps the device's CIRA client going (AMT dials the gateway by itself once configured), reports the SKU and
// runs the heartbeat until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	opts := a.cfg.CIRA
	userOnLink := opts.OnLink
	opts.OnLink = func(up bool) {
		a.link.Store(up)
		if userOnLink != nil {
			userOnLink(up)
		}
	}
	opts.Log = a.cfg.Log
	wg.Go(func() { _ = a.cfg.Device.RunCIRA(ctx, opts) })

	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		if !a.Status().SKUReported {
			a.reportSKU(ctx)
		}
		if a.Status().SKUReported {
			a.heartbeat(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (a *Agent) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	if a.cfg.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.cfg.Token)
	}
	return ctx, cancel
}

func (a *Agent) hostID() string { return a.cfg.Device.GUID().String() }

// reportSKU is PMA's start-up ReportAMTStatus; FailedPrecondition (SKU unchanged) counts as done.
func (a *Agent) reportSKU(ctx context.Context) {
	cctx, cancel := a.callCtx(ctx)
	defer cancel()
	_, err := a.cfg.Client.ReportAMTStatus(cctx, &pb.AMTStatusRequest{
		HostId: a.hostID(), Status: pb.AMTStatus_ENABLED, Feature: "AMT"})
	if err != nil && status.Code(err) != codes.FailedPrecondition {
		a.log.Debug().Err(err).Msg("ReportAMTStatus failed; retrying at the next heartbeat")
		return
	}
	a.mu.Lock()
	a.st.SKUReported = true
	a.mu.Unlock()
}

// ras is AMT's remote-access status: connected while the tunnel is up, connecting while CIRA is configured but
// the tunnel is not up.
func (a *Agent) ras() string {
	switch {
	case a.link.Load():
		return RASConnected
	case a.cfg.Device.State().CIRAConfigured:
		return RASConnecting
	}
	return RASNotConnected
}

// heartbeat is one RetrieveActivationDetails round and what PMA does with the answer.
func (a *Agent) heartbeat(ctx context.Context) {
	cctx, cancel := a.callCtx(ctx)
	resp, err := a.cfg.Client.RetrieveActivationDetails(cctx, &pb.ActivationRequest{HostId: a.hostID()})
	cancel()
	switch {
	case status.Code(err) == codes.FailedPrecondition:
		return // "activation skipped": nothing to do
	case err != nil:
		a.log.Debug().Err(err).Msg("RetrieveActivationDetails failed; retrying at the next heartbeat")
		return
	case resp.GetOperation() != pb.OperationType_ACTIVATE:
		return
	}
	var result pb.ActivationStatus
	switch a.ras() {
	case RASConnected:
		result = pb.ActivationStatus_ACTIVATED
	case RASConnecting:
		result = pb.ActivationStatus_ACTIVATING
	default:
		result = a.activate(ctx, resp.GetProfileName(), resp.GetActionPassword())
	}
	a.report(ctx, result)
}

// activate runs `rpc activate -u <url> -n` with PROFILE and AMT_PASSWORD; it is ACTIVATING when rpc-go says CIRA
// was configured (the tunnel comes up by itself), else ACTIVATION_FAILED.
func (a *Agent) activate(ctx context.Context, profile, password string) pb.ActivationStatus {
	a.mu.Lock()
	a.st.Activations++
	a.mu.Unlock()
	res, err := rpc.Run(ctx, a.cfg.Device, rpc.Config{
		URL: a.cfg.ActivationURL, Command: rpc.ActivateCommand(profile, false), Password: password,
		Dialer: a.cfg.Dialer, Log: a.cfg.Log,
	})
	text := ""
	switch {
	case err != nil:
		text = err.Error()
	default:
		text = res.Text()
	}
	a.mu.Lock()
	a.st.LastResult = text
	a.mu.Unlock()
	if err != nil || !res.OK() || !a.cfg.Device.State().CIRAConfigured {
		a.log.Warn().Str("profile", profile).Str("result", text).Msg("rpc activate failed")
		return pb.ActivationStatus_ACTIVATION_FAILED
	}
	a.log.Info().Str("profile", profile).Str("result", text).Msg("rpc activate done")
	return pb.ActivationStatus_ACTIVATING
}

// report is ReportActivationResults; FailedPrecondition means the host no longer waits for activation (as EMF).
func (a *Agent) report(ctx context.Context, result pb.ActivationStatus) {
	cctx, cancel := a.callCtx(ctx)
	defer cancel()
	_, err := a.cfg.Client.ReportActivationResults(cctx, &pb.ActivationResultRequest{
		HostId: a.hostID(), ActivationStatus: result})
	if err != nil && status.Code(err) != codes.FailedPrecondition {
		a.log.Debug().Err(err).Str("result", result.String()).Msg("ReportActivationResults failed")
		return
	}
	a.mu.Lock()
	a.st.Reported = result
	a.mu.Unlock()
}

// String is a one-line summary for logs and failures.
func (s Status) String() string {
	return fmt.Sprintf("sku reported %t, %d activation runs, last result %q, reported %s, RAS %s",
		s.SKUReported, s.Activations, s.LastResult, s.Reported, s.RAS)
}
