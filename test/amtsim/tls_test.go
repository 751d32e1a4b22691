package amtsim_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim"
)

func TestMixedFleet(t *testing.T) {
	for _, tc := range []struct{ n, percent, want int }{{20, 100, 20}, {20, 50, 10}, {20, 0, 0}, {7, 50, 3}, {3, 10, 0}} {
		f, err := amtsim.NewMixedFleet(tc.n, "mixed", amtsim.Config{}, tc.percent)
		require.NoError(t, err)
		got := 0
		for _, d := range f.Devices() {
			if d.TLSEnforced() {
				got++
				v, _, _ := d.Versions()
				require.Equal(t, "19.0.5", v)
				require.NotNil(t, d.TLSCertificate())
			}
		}
		require.Equal(t, tc.want, got, "%d%% of %d", tc.percent, tc.n)
	}
	_, err := amtsim.NewMixedFleet(1, "x", amtsim.Config{}, 101)
	require.ErrorContains(t, err, "percentage")
}

func TestServeLocalTLS(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{TLSEnforced: true})
	require.NoError(t, err)
	client, server := net.Pipe()
	go d.ServeLocalTLS(server)
	tc := tls.Client(client, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test checks the certificate itself
	defer tc.Close()
	require.NoError(t, tc.Handshake())
	require.Equal(t, d.TLSCertificate().Raw, tc.ConnectionState().PeerCertificates[0].Raw)
	require.Eventually(t, func() bool { all, resumed := d.TLSHandshakes(); return all == 1 && resumed == 0 },
		time.Second, time.Millisecond)

	// A device that does not enforce TLS has nothing on 16993; injected resets close before the handshake.
	plain, err := amtsim.New(amtsim.Config{})
	require.NoError(t, err)
	d.InjectTLSResets(1)
	for _, dev := range []*amtsim.Device{plain, d} {
		c, s := net.Pipe()
		go dev.ServeLocalTLS(s)
		require.Error(t, tls.Client(c, &tls.Config{InsecureSkipVerify: true}).Handshake()) //nolint:gosec // refused anyway
	}
}
