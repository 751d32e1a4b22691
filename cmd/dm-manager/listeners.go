package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	invmetrics "github.com/open-edge-platform/infra-core/inventory/v2/pkg/metrics"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dmrm/dm-manager/internal/metrics"
)

// startOAM serves the gRPC health protocol (Kubernetes gRPC probes), NOT_SERVING until start completes.
// grpc's own health server rather than inventory's pkg/oam: that one Fatal()s on a listen error and
// does not implement Watch.
func (a *app) startOAM(b *bound) (*health.Server, error) {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if a.cfg.OAMServerAddress == "" {
		return hs, nil
	}
	lis, err := listen(a.cfg.OAMServerAddress, "oamServerAddress")
	if err != nil {
		return nil, err
	}
	b.OAM = lis.Addr().String()
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil {
			a.serveErr <- fmt.Errorf("gRPC health server on %s: %w", b.OAM, err)
		}
	}()
	a.onStop(func() {
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(stopTimeout):
			srv.Stop()
		}
		a.waitFor(done, "gRPC health server")
	})
	return hs, nil
}

// startMetrics serves /metrics when -enableMetrics, with the Inventory client's gRPC metrics.
func (a *app) startMetrics(b *bound) error {
	if !a.cfg.EnableMetrics {
		return nil
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(invmetrics.GetClientMetricsWithLatency())
	lis, err := listen(a.cfg.MetricsAddress, "metricsAddress")
	if err != nil {
		return err
	}
	b.Metrics = lis.Addr().String()
	srv := &http.Server{Handler: metrics.Handler(reg), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			a.serveErr <- fmt.Errorf("metrics server on %s: %w", b.Metrics, err)
		}
	}()
	a.onStop(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		a.waitFor(done, "metrics server")
	})
	return nil
}

func listen(addr, flagName string) (net.Listener, error) {
	var lc net.ListenConfig
	lis, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-%s: cannot listen on %s: %w", flagName, addr, err)
	}
	return lis, nil
}
