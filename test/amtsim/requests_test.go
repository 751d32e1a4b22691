package amtsim

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Every request is logged, including those AMT refuses or that change nothing (ON of a host that is on).
func TestPowerRequestsLogsEveryRequest(t *testing.T) {
	d, c, _ := poweredDevice(t, PowerOn)
	for _, a := range []int{actOn, actReset, 99} {
		_, _ = c.method(pmsURI, "RequestPowerStateChange", powerBody(a))
	}
	require.Equal(t, []int{actOn, actReset, 99}, d.PowerRequests())
}
