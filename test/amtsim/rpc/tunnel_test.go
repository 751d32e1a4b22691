package rpc_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

func TestParsePortSwitch(t *testing.T) {
	for _, tc := range []struct {
		in    string
		port  int
		delay time.Duration
		err   string
	}{
		{`{"port":"16993","delay":15}`, 16993, 15 * time.Second, ""},
		{`{"port":"16992","delay":0}`, 16992, 0, ""},
		{`{"port":"16993","delay":600}`, 16993, 60 * time.Second, ""},
		{`{"port":"16993","delay":-5}`, 16993, 0, ""},
		{`{"port":"16993","delay":1,"rootCert":"MII..."}`, 16993, time.Second, ""},
		{`{"port":"22","delay":1}`, 0, 0, "LMS ports"},
		{`{"port":16993}`, 0, 0, "port_switch payload"},
		{`eyJwb3J0IjoiMTY5OTMifQ==`, 0, 0, "port_switch payload"}, // base64 is not what RPS sends
	} {
		port, delay, err := rpc.ParsePortSwitch(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.port, port, tc.in)
		require.Equal(t, tc.delay, delay, tc.in)
	}
}

func FuzzParsePortSwitch(f *testing.F) {
	for _, s := range []string{`{"port":"16993","delay":15}`, `{"port":"16992"}`, `{}`, `null`, `{"delay":1e99}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		port, delay, err := rpc.ParsePortSwitch(s)
		if err == nil && (port != 16992 && port != 16993 || delay < 0 || delay > time.Minute) {
			t.Fatalf("%q: port %d delay %s accepted", s, port, delay)
		}
	})
}
