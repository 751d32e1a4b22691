package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	invmetrics "github.com/open-edge-platform/infra-core/inventory/v2/pkg/metrics"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dmrm/dm-manager/internal/metrics"
)

// bind takes every listen address before anything connects anywhere, so a port conflict fails the start at once
// and names its flag. Listeners handed in through Options are used as they are.
func (a *app) bind(ctx context.Context) error {
	pre, cfg := a.opts.Listeners, a.cfg
	a.onStop("listeners", a.lis.closeAll) // servers close their own; this catches the ones never served
	for _, l := range []struct {
		flag, addr string
		on         bool
		pre        net.Listener
		into       *net.Listener
	}{
		{"dmServerAddress", cfg.DMServerAddress, true, pre.DMServer, &a.lis.DMServer},
		{"ciraAddress", cfg.CIRAAddress, true, pre.CIRA, &a.lis.CIRA},
		{"activationAddress", cfg.ActivationAddress, true, pre.Activation, &a.lis.Activation},
		{"apiAddress", cfg.APIAddress, true, pre.API, &a.lis.API},
		{"metricsAddress", cfg.MetricsAddress, cfg.EnableMetrics, pre.Metrics, &a.lis.Metrics},
		{"oamServerAddress", cfg.OAMServerAddress, cfg.OAMServerAddress != "", pre.OAM, &a.lis.OAM},
		{"replicaListenAddress", cfg.ReplicaListenAddress, cfg.ReplicaListenAddress != "", pre.Replica, &a.lis.Replica},
	} {
		switch {
		case !l.on:
			if l.pre != nil {
				_ = l.pre.Close()
			}
		case l.pre != nil:
			*l.into = l.pre
		default:
			lis, err := listen(ctx, l.flag, l.addr)
			if err != nil {
				pre.closeAll() // the ones not yet taken over
				return err
			}
			*l.into = lis
		}
	}
	return nil
}

// listen binds addr; the error reads "-<flag> <addr>: <cause>", e.g. "-ciraAddress 0.0.0.0:4433: address already
// in use".
func listen(ctx context.Context, flagName, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-%s %s: %w", flagName, addr, listenCause(err))
	}
	return lis, nil
}

// listenCause strips the "listen tcp <addr>: bind:" layers the flag and address already say.
func listenCause(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// ListenLoopback binds every server on a free 127.0.0.1 port, for tests and the demo; Ready reports the ports.
func ListenLoopback() (Listeners, error) {
	var l Listeners
	for _, p := range []*net.Listener{&l.DMServer, &l.CIRA, &l.Activation, &l.API, &l.Metrics, &l.OAM, &l.Replica} {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			l.closeAll()
			return Listeners{}, fmt.Errorf("app: binding a loopback listener: %w", err)
		}
		*p = lis
	}
	return l, nil
}

func (l *Listeners) closeAll() {
	for _, lis := range []net.Listener{l.DMServer, l.CIRA, l.Activation, l.API, l.Metrics, l.OAM, l.Replica} {
		if lis != nil {
			_ = lis.Close()
		}
	}
}

func addr(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// startOAMAndMetrics serves gRPC health (NOT_SERVING until start completes) and /metrics first, so probes and
// scrapes get answers during a slow start (Postgres retries, Inventory registration). grpc's own health server
// rather than inventory's pkg/oam: that one Fatal()s on a listen error and does not implement Watch.
func (a *app) startOAMAndMetrics(context.Context) error {
	a.health = health.NewServer()
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if a.lis.OAM != nil {
		srv := grpc.NewServer()
		healthpb.RegisterHealthServer(srv, a.health)
		a.serveGRPC("gRPC health server", a.lis.OAM, srv)
	}
	a.reg = metrics.NewRegistry()
	if a.lis.Metrics != nil {
		a.reg.MustRegister(invmetrics.GetClientMetricsWithLatency())
		srv := &http.Server{Handler: metrics.Handler(a.reg, a.cfg.EnableProfiling), ReadHeaderTimeout: 5 * time.Second}
		a.serveHTTP("metrics server", a.lis.Metrics, srv, nil)
	}
	return nil
}

// setServing turns health to SERVING; the first thing the stop does is turn it back to NOT_SERVING.
func (a *app) setServing() {
	a.health.Resume()
	a.onStop("health", a.health.Shutdown)
}

func (a *app) ready() Ready {
	return Ready{
		DMServer: addr(a.lis.DMServer), CIRA: addr(a.lis.CIRA), Activation: addr(a.lis.Activation),
		API: addr(a.lis.API), Metrics: addr(a.lis.Metrics), OAM: addr(a.lis.OAM), Replica: addr(a.lis.Replica),
		GatewayRootCAPEM: a.ca.RootPEM(), GatewayNames: a.gatewayNames,
	}
}

// serveGRPC serves srv on lis until the stop, which lets calls in flight finish for a while.
func (a *app) serveGRPC(what string, lis net.Listener, srv *grpc.Server) {
	where := lis.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil {
			a.fail(errServe(what, where, err))
		}
	}()
	a.onStop(what, func() {
		stopped := make(chan struct{})
		go func() {
			srv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(a.stopLeft()):
			srv.Stop() // GracefulStop then returns too
			<-stopped
		}
		<-done
	})
}

// serveHTTP serves srv on lis until the stop; beforeShutdown, when set, runs first (the activation engine ends
// its hijacked websockets, which Shutdown does not track).
func (a *app) serveHTTP(what string, lis net.Listener, srv *http.Server, beforeShutdown func()) {
	where := lis.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			a.fail(errServe(what, where, err))
		}
	}()
	a.onStop(what, func() {
		if beforeShutdown != nil {
			beforeShutdown()
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.stopLeft())
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	})
}
