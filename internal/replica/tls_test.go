package replica

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/replica/replicatest"
)

// ownerTLS is owner with the replica API behind mutual TLS.
func ownerTLS(t *testing.T, devices ChannelOpener, files TLSFiles) string {
	t.Helper()
	srvConf, _, err := files.Load()
	require.NoError(t, err)
	srv, err := NewServer(devices, testSecret, zerolog.Nop())
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := srv.GRPCServer(grpc.Creds(credentials.NewTLS(srvConf)))
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(srv.Close)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func tlsFiles(t *testing.T) TLSFiles {
	cert, key, ca := replicatest.Files(t, t.TempDir())
	return TLSFiles{Cert: cert, Key: key, CA: ca}
}

// With mutual TLS a replica of the deployment (certificate from its CA) is served; a client without TLS, or with
// a certificate of another CA, is refused before anything reaches the device: the call is "not sent". A server
// whose certificate is not from the CA is not called.
func TestMutualTLS(t *testing.T) {
	files := tlsFiles(t)
	_, clientConf, err := files.Load()
	require.NoError(t, err)
	devices := &pipeDevices{serve: map[string]func(net.Conn){}}
	addr := ownerTLS(t, devices, files)

	c, err := NewClient(testSecret, clientConf)
	require.NoError(t, err)
	defer c.Close()
	guid, client := simDevice(t, devices, c, addr)
	_, err = client.GeneralSettings(t.Context())
	require.NoError(t, err, "a replica of the deployment is served")

	req := []byte("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	_, otherConf, err := tlsFiles(t).Load()
	require.NoError(t, err)
	for name, conf := range map[string]*tls.Config{"plain text": nil, "certificate of another CA": otherConf} {
		other, err := NewClient(testSecret, conf)
		require.NoError(t, err)
		_, err = other.Exchange(t.Context(), addr, guid, req)
		require.Equal(t, wsman.NotWritten, wsman.WrittenOf(err), "%s: %v", name, err)
		other.Close()
	}

	// A server outside the deployment (another CA) is not called.
	foreign := ownerTLS(t, devices, tlsFiles(t))
	_, err = c.Exchange(t.Context(), foreign, guid, req)
	require.Equal(t, wsman.NotWritten, wsman.WrittenOf(err), "%v", err)
}

func TestTLSFilesLoad(t *testing.T) {
	files := tlsFiles(t)
	for name, f := range map[string]TLSFiles{
		"no CA":         {Cert: files.Cert, Key: files.Key},
		"CA missing":    {Cert: files.Cert, Key: files.Key, CA: files.Key + ".missing"},
		"key is the CA": {Cert: files.Cert, Key: files.CA, CA: files.CA},
		"CA is the key": {Cert: files.Cert, Key: files.Key, CA: files.Key},
	} {
		_, _, err := f.Load()
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), "PRIVATE KEY", "%s: no key material in errors", name)
	}
	require.False(t, TLSFiles{}.Enabled())
}
