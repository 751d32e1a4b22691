package southbound_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/internal/metrics"
	"github.com/dmrm/dm-manager/internal/southbound"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/internal/testlog"
)

const panicHost = "00000000-0000-4000-8000-00000000dead"

// panicHosts panics for panicHost, as a bug in a lookup might, and knows no other host.
type panicHosts struct{}

func (panicHosts) GetHostByUUID(_ context.Context, _, uuid string) (*computev1.HostResource, error) {
	if uuid == panicHost {
		panic("injected: lookup bug")
	}
	return nil, status.Error(codes.NotFound, "no such host")
}

func (panicHosts) SetAmtSku(context.Context, string, string, computev1.AmtSku) error { return nil }
func (panicHosts) UpdateAMTStatusText(context.Context, string, string, string, statusv1.StatusIndication) error {
	return nil
}

// serveBare serves a server without Inventory or auth on a loopback port.
func serveBare(t *testing.T, limits southbound.Limits, logs *testlog.Buffer) string {
	t.Helper()
	srv, err := southbound.New(southbound.Config{
		Hosts: panicHosts{}, Domains: &domains{}, Passwords: &passwords{}, Limits: limits, Log: zerolog.New(logs),
	})
	require.NoError(t, err)
	g := srv.NewGRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func panics(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.NewRegistry().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "dm_manager_panics_recovered_total" && m.GetLabel()[0].GetValue() == "grpc" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestPanicCostsOneCall(t *testing.T) {
	logs := &testlog.Buffer{}
	addr := serveBare(t, southbound.Limits{}, logs)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c := pb.NewDeviceManagementClient(conn)
	before := panics(t)

	req := func(host string) error {
		ctx := agentCtx(t, "", "activeprojectid", "11111111-1111-4111-8111-111111111111")
		_, err := c.ReportAMTStatus(ctx, &pb.AMTStatusRequest{HostId: host, Status: pb.AMTStatus_ENABLED, Feature: "AMT"})
		return err
	}
	err = req(panicHost)
	require.Equal(t, codes.Internal, status.Code(err), "%v", err)
	require.NotContains(t, err.Error(), "injected", "the caller learns nothing of the internals")
	require.Equal(t, before+1, panics(t))
	require.Contains(t, logs.String(), `"level":"error"`)
	require.Contains(t, logs.String(), "injected: lookup bug")

	// The same connection and the process go on.
	require.Equal(t, codes.NotFound, status.Code(req("00000000-0000-4000-8000-000000000001")))
}

func TestRecoverStream(t *testing.T) {
	before := panics(t)
	err := southbound.RecoverStream(zerolog.Nop())(nil, nil, &grpc.StreamServerInfo{FullMethod: "/x/y"},
		func(any, grpc.ServerStream) error { panic("injected") })
	require.Equal(t, codes.Internal, status.Code(err))
	require.Equal(t, before+1, panics(t))
}

// h2conn is a raw HTTP/2 client connection: what a misbehaving client can do below gRPC.
func h2conn(t *testing.T, addr string) *http2.Framer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = c.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(c, c)
	require.NoError(t, fr.WriteSettings())
	return fr
}

// goAway reads frames until GOAWAY.
func goAway(t *testing.T, fr *http2.Framer) *http2.GoAwayFrame {
	t.Helper()
	for {
		f, err := fr.ReadFrame()
		require.NoError(t, err, "connection ended without GOAWAY")
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga
		}
	}
}

func TestConnectionLimits(t *testing.T) {
	addr := serveBare(t, southbound.Limits{MaxConcurrentStreams: 7, MaxConnectionIdle: 300 * time.Millisecond}, &testlog.Buffer{})

	t.Run("max concurrent streams advertised", func(t *testing.T) {
		fr := h2conn(t, addr)
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		sf, ok := f.(*http2.SettingsFrame)
		require.True(t, ok, "server speaks first with SETTINGS, got %T", f)
		v, ok := sf.Value(http2.SettingMaxConcurrentStreams)
		require.True(t, ok)
		require.Equal(t, uint32(7), v)
	})

	t.Run("idle connection closed", func(t *testing.T) {
		fr := h2conn(t, addr)
		start := time.Now()
		ga := goAway(t, fr)
		require.Equal(t, http2.ErrCodeNo, ga.ErrCode)
		require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	})

	t.Run("ping flood refused", func(t *testing.T) {
		addr := serveBare(t, southbound.Limits{}, &testlog.Buffer{}) // default idle: only pings can end it
		fr := h2conn(t, addr)
		for i := range 5 {
			require.NoError(t, fr.WritePing(false, [8]byte{byte(i)}))
		}
		ga := goAway(t, fr)
		require.Equal(t, http2.ErrCodeEnhanceYourCalm, ga.ErrCode)
		require.True(t, strings.Contains(string(ga.DebugData()), "too_many_pings"), "%q", ga.DebugData())
	})
}
