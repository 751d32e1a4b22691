package heartbeat

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeadlineInForce(t *testing.T) {
	require.NoError(t, Check())
	require.Equal(t, Deadline.String(), flag.Lookup(flagName).Value.String())
}
