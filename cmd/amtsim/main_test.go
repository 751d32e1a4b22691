package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/test/amtsim/rpc/rpstest"
)

func TestFlagValidation(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"-n", "0"}, "-n"},
		{[]string{"-activationURL", "http://x"}, "-activationURL"},
		{[]string{"-activationURL", "ws://x"}, "-profile"},
		{[]string{"-control", "0.0.0.0:8099"}, "loopback"},
		{[]string{"-hungOS", "101"}, "percentages"},
		{[]string{"-tlsEnforced", "-1"}, "percentages"},
		{[]string{"-n", "5", "-control", "127.0.0.2:0"}, ""},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args)
		if tt.err == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tt.err, tt.args)
	}
}

type auth struct{}

func (auth) Authenticate(_ context.Context, _, user, pass string) (string, error) {
	if user == "admin" && pass == "CiraPass1!" {
		return "t1", nil
	}
	return "", ciragw.ErrBadCredentials
}

// gateway runs a real CIRA gateway on loopback with a throwaway PKI.
func gateway(t *testing.T, ctx context.Context) (rootDER []byte, port int) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	mk := func(tmpl, parent *x509.Certificate) *x509.Certificate {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, key)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c
	}
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "amtsim cmd root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root := mk(rootTmpl, rootTmpl)
	srv := mk(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mps.test"}, DNSNames: []string{"mps.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, root)
	gw, err := ciragw.New(ciragw.Config{Certificate: tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: key}, Authenticator: auth{}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gw.Serve(ctx, ln) }()
	return root.Raw, ln.Addr().(*net.TCPAddr).Port
}

func getJSON(t *testing.T, url string, v any) {
	resp, err := http.Get(url) //nolint:noctx // loopback test
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func TestFleetActivatesAndKeepsCIRA(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root, port := gateway(t, ctx)
	rps := rpstest.New(rpstest.CCM("Intel123!", &rpstest.CIRA{RootDER: root, Address: "127.0.0.1", InfoFormat: 3, Port: port,
		CN: "mps.test", Username: "admin", Password: "CiraPass1!"}))
	defer rps.Close()

	o, err := parseFlags([]string{"-n", "3", "-activationURL", rps.URL, "-profile", "t1_ccm", "-tenant", "t1",
		"-amtPassword", "Intel123!", "-progress", "0", "-powerDelay", "10ms", "-osBootDelay", "10ms", "-osShutdownDelay", "10ms"})
	require.NoError(t, err)
	r, err := newRunner(ctx, o, zerolog.Nop())
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go r.serveControl(ctx, ln)
	base := "http://" + ln.Addr().String()
	runDone := make(chan error, 1)
	go func() { runDone <- r.run(ctx) }()

	require.Eventually(t, func() bool { return r.linksUp.Load() == 3 }, 20*time.Second, 10*time.Millisecond)
	var rows []importRow
	getJSON(t, base+"/import.json", &rows)
	require.Len(t, rows, 3)
	for _, row := range rows {
		require.Equal(t, importRow{GUID: row.GUID, Tenant: "t1", CIRAUsername: "admin", CIRAPassword: "CiraPass1!", AMTPassword: "Intel123!"}, row)
	}
	resp, err := http.Get(base + "/import.csv") //nolint:noctx // loopback test
	require.NoError(t, err)
	recs, err := csv.NewReader(resp.Body).ReadAll()
	_ = resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, []string{"guid", "tenant", "cira_username", "cira_password", "amt_password"}, recs[0])
	require.Len(t, recs, 4)

	var devices []deviceView
	getJSON(t, base+"/devices", &devices)
	require.Len(t, devices, 3)
	require.Equal(t, "success", devices[0].Activation)
	require.Equal(t, "Client control mode.", devices[0].ActivationStatus)

	// Cut one device's network: its tunnel drops; restore it: it comes back.
	post := func(path string) {
		resp, err := http.Post(base+path, "", nil) //nolint:noctx // loopback test
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	post("/devices/" + rows[0].GUID + "/network?up=false")
	require.Eventually(t, func() bool { return r.linksUp.Load() == 2 }, 10*time.Second, 10*time.Millisecond)
	post("/devices/" + rows[0].GUID + "/network?up=true")
	require.Eventually(t, func() bool { return r.linksUp.Load() == 3 }, 10*time.Second, 10*time.Millisecond)
	post("/devices/" + rows[1].GUID + "/power-button?long=true")
	post("/devices/" + rows[1].GUID + "/os?hung=true")
	var one deviceView
	getJSON(t, base+"/devices/"+strings.ToUpper(rows[1].GUID), &one)
	require.True(t, one.OSHung)
	require.False(t, one.UnprovisionBlocked)
	post("/devices/" + rows[1].GUID + "/unprovision?blocked=true")
	getJSON(t, base+"/devices/"+rows[1].GUID, &one)
	require.True(t, one.UnprovisionBlocked)
	require.NotNil(t, one.CIRA)
	require.Len(t, one.CIRA.Servers, 1)
	var raw map[string]any // the recovery view (boot override, last boot, erase when one ran, alarms)
	getJSON(t, base+"/devices/"+rows[1].GUID, &raw)
	for _, k := range []string{"bootOverride", "lastBootTarget", "boots", "alarms"} {
		require.Contains(t, raw, k)
	}

	var summary strings.Builder
	r.summary(&summary, time.Second)
	require.Contains(t, summary.String(), "activation: 3 ok, 0 failed")
	cancel()
	require.ErrorIs(t, <-runDone, context.Canceled)
}
