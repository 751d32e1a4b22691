// Package invtest runs the real Inventory server in process for a test package (emf-conventions §2): Postgres
// schema through atlas, the OPA policy bundle, gRPC over bufconn, and the API, RM and TC test clients.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { invtest.Main(m) }
//
// Inventory's test environment empties the shared `postgres` database when it starts, so Main holds an exclusive
// file lock for the whole package run: packages and processes using invtest run one at a time.
package invtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	inv_testing "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/util"
)

const (
	// LockPath serialises every user of Inventory's test environment on this machine.
	LockPath = "/tmp/dm-manager-invtest.lock"
	// lockWait bounds the wait for another package; `go test -timeout` does not cover TestMain before m.Run.
	lockWait    = 20 * time.Minute
	pingTimeout = 5 * time.Second
)

// started is set once Main has brought the environment up; accessors refuse to run without it.
var started bool

// Main checks prerequisites, takes the lock, starts Inventory, runs the package's tests, stops Inventory and exits
// with the tests' status.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := checkPrerequisites(); err != nil {
		fmt.Fprintf(os.Stderr, "invtest: %v\n", err)
		return 1
	}
	unlock, err := lockEnv(LockPath, lockWait)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invtest: %v\n", err)
		return 1
	}
	defer unlock()
	dir, err := os.MkdirTemp("", "dm-manager-invtest-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "invtest: create work dir: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	// One directory serves as policy path and migrations dir (emf-conventions §2.3); Inventory Fatal()s on error.
	inv_testing.StartTestingEnvironment(dir, "", dir)
	started = true
	code := m.Run()
	inv_testing.StopTestingEnvironment()
	return code
}

// checkPrerequisites reports everything missing at once, with the command that provides it.
func checkPrerequisites() error {
	var missing []string
	for _, tool := range []string{"opa", "atlas"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" is not on PATH")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	url := util.GetDBURL(util.LookupDBTestEnv())
	if conn, err := pgx.Connect(ctx, url); err != nil {
		missing = append(missing, fmt.Sprintf("Postgres is not reachable as admin/pass at localhost:5432 "+
			"(database postgres): %v", err))
	} else {
		_ = conn.Close(ctx)
	}
	if len(missing) == 0 {
		return nil
	}
	return errors.New("the Inventory test environment needs:\n  - " + strings.Join(missing, "\n  - ") +
		"\nRun `make test` (it runs scripts/testenv.sh and puts .cache/bin on PATH), or run `make tools` and " +
		"then `PATH=$PWD/.cache/bin:$PATH go test ...`")
}
