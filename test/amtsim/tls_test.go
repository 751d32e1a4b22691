package amtsim_test

import (
	"crypto/tls"
	"io"
	"net"
	"strconv"
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

// InjectTLSDropOn closes the TLS connection of the first request that matches, unanswered and not acted on, once.
func TestInjectTLSDropOn(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{TLSEnforced: true})
	require.NoError(t, err)
	d.InjectTLSDropOn("Setup_INPUT")
	exchange := func(body string) (string, error) {
		c, s := net.Pipe()
		go d.ServeLocalTLS(s)
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test needs no pin
		defer tc.Close()
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		req := "POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:16993\r\nConnection: close\r\n" +
			"Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := tc.Write([]byte(req)); err != nil {
			return "", err
		}
		b, err := io.ReadAll(tc)
		return string(b), err
	}
	other, err := exchange("<Envelope><Body><h:Get_INPUT/></Body></Envelope>")
	require.NoError(t, err)
	require.Contains(t, other, "HTTP/1.1 ", "a request that does not match is answered")
	dropped, _ := exchange("<Envelope><Body><h:Setup_INPUT/></Body></Envelope>")
	require.Empty(t, dropped, "the matching request gets no answer")
	again, err := exchange("<Envelope><Body><h:Setup_INPUT/></Body></Envelope>")
	require.NoError(t, err)
	require.Contains(t, again, "HTTP/1.1 ", "one drop per call")
	require.Equal(t, amtsim.PreProvisioning, d.Mode())
}
