package amtsim

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGUIDByteOrder(t *testing.T) {
	// protocol-cira-wsman §2.5 / §13 vectors: raw (wire) hex <-> canonical text.
	tests := []struct{ raw, text string }{
		{"44454C4C4B0010428033B6C04F504633", "4c4c4544-004b-4210-8033-b6c04f504633"},
		{"00112233445566778899AABBCCDDEEFF", "33221100-5544-7766-8899-aabbccddeeff"},
	}
	for _, tt := range tests {
		g, err := ParseGUID(tt.text)
		require.NoError(t, err)
		require.Equal(t, tt.raw, g.RawHex())
		require.Equal(t, tt.text, g.String())
		up, err := ParseGUID("4C4C4544-004B-4210-8033-B6C04F504633")
		require.NoError(t, err)
		require.Equal(t, "44454C4C4B0010428033B6C04F504633", up.RawHex())
	}
	_, err := ParseGUID("not-a-guid")
	require.Error(t, err)
}

func TestSeededGUIDDeterministic(t *testing.T) {
	a, b := SeededGUID("seed", 1), SeededGUID("seed", 1)
	require.Equal(t, a, b)
	require.NotEqual(t, a, SeededGUID("seed", 2))
	require.Equal(t, byte('4'), a.String()[14]) // version 4
	f, err := NewFleet(3, "seed", Config{})
	require.NoError(t, err)
	require.Equal(t, a.String(), f.Devices()[1].GUID().String())
	d, ok := f.Lookup(a.String())
	require.True(t, ok)
	require.Equal(t, "amtsim-0001", d.Hostname())
}
