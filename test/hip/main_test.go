package hip

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/hip/rig"
	"github.com/dmrm/dm-manager/test/invtest"
)

// hipCfg is the rig configuration from the environment; hipMode is false for the local stack.
var (
	hipCfg  rig.Config
	hipMode bool
)

// TestMain starts the in-process Inventory only for the local stack: a HIP rig needs neither Postgres nor opa.
func TestMain(m *testing.M) {
	// Inventory's client library logs every call at info through zerolog's global level.
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	var err error
	hipCfg, hipMode, err = rig.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hip:", err)
		os.Exit(2)
	}
	// The local scenarios wait on timers, not on the CPU: run them all at once unless -test.parallel says otherwise.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(len(scenarios)))
	}
	if hipMode {
		fmt.Fprintf(os.Stderr, "hip: HIP rig mode: Inventory %s, tenant %s, %d hosts\n",
			hipCfg.Address, hipCfg.Tenant, len(hipCfg.HostUUIDs))
		os.Exit(m.Run())
	}
	invtest.Main(m)
}
