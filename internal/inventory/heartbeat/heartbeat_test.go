package heartbeat

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"

	// The client library registers the flag Relax sets.
	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
)

func TestRelax(t *testing.T) {
	require.NoError(t, Relax())
	require.Equal(t, Deadline.String(), flag.Lookup("heatbeatBackoffInterval").Value.String())
}
