package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/hip/agent"
	"github.com/dmrm/dm-manager/test/hip/rig"
)

// The -amtsim story is issue 12's acceptance run: the cmd/amtsim binary, as a separate process with its own command
// line, activates a fleet against `dm-manager serve` with the tenant's _ccm or _acm profile (the ACM one with a
// domain uploaded through the REST API), and every device must end activated in that mode with its CIRA tunnel up,
// and every host PROVISIONED in Inventory.

// amtsimSeed is amtsim's default -guidSeed: the hosts are registered with the GUIDs amtsim derives from it.
const amtsimSeed = "amtsim"

// runAmtsim replaces steps 3 to 7 of the story when -amtsim is set.
func (d *demo) runAmtsim(ctx context.Context) error {
	acm := d.o.amtsimProfile == "acm"
	d.out.step(3, "EIM user registers %d hosts with vPro enabled, UUIDs as amtsim derives them (-guidSeed %s)",
		d.o.hosts, amtsimSeed)
	d.names = map[string]string{}
	for i := range d.o.hosts {
		id, name := amtsim.SeededGUID(amtsimSeed, i).String(), fmt.Sprintf("edge-%02d", i+1)
		h := rig.NewHost(id, name)
		h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_CCM
		if acm {
			h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_ACM
		}
		if _, err := d.api.CreateHost(ctx, h); err != nil {
			return err
		}
		d.own++
		d.uuids = append(d.uuids, id)
		d.names[id] = name
	}
	args := []string{"-n", strconv.Itoa(d.o.hosts), "-tlsEnforced", strconv.Itoa(d.o.tlsEnforced),
		"-activationURL", d.o.activationURL, "-profile", d.tenant + "_" + d.o.amtsimProfile}
	if acm {
		extra, err := d.uploadDomain(ctx)
		if err != nil {
			return err
		}
		args = append(args, extra...)
	}
	password, err := d.activationPassword(ctx)
	if err != nil {
		return err
	}
	control := freeLoopback()
	args = append(args, "-amtPassword", password, "-control", control, "-progress", "5s")

	d.out.step(4, "amtsim (%s), a separate process, activates the fleet", d.o.amtsim)
	d.out.line("$ amtsim %s", strings.Join(redact(args, password), " "))
	var logBuf lockedBuffer
	cmd := exec.Command(d.o.amtsim, args...) //nolint:gosec // G204: the binary is the operator's -amtsim flag
	cmd.Stdout = io.MultiWriter(&logBuf, d.out.w)
	cmd.Stderr = &logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.o.amtsim, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() string {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			err = <-exited
		}
		if err != nil {
			return logBuf.String() + "\n(amtsim: " + err.Error() + ")"
		}
		return logBuf.String()
	}
	mode := map[bool]string{false: "ccm", true: "acm"}[acm]
	var last string
	for {
		s, err := fetch(ctx, "http://"+control+"/summary")
		if err == nil {
			last = s
			if fleetDone(s, mode, d.o.hosts) {
				break
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("amtsim exited early (%v); its output:\n%s", err, logBuf.String())
		case <-ctx.Done():
			out := stop()
			return fmt.Errorf("the fleet did not get to %d activations ok, %d devices in %s and %d CIRA tunnels up; "+
				"last summary:\n%s\namtsim's output:\n%s", d.o.hosts, d.o.hosts, mode, d.o.hosts, last, tail(out, 20))
		case <-time.After(time.Second):
		}
	}
	took := time.Since(t0)
	d.timings = append(d.timings, timing{"amtsim activation + CIRA", took})
	d.out.line("amtsim reports, %s after it started:", round(took))
	for _, l := range strings.Split(strings.TrimSpace(last), "\n") {
		d.out.line("  %s", l)
	}
	err = d.converge(ctx, "Inventory", func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED
	})
	stop()
	if err != nil {
		return err
	}
	d.out.step(5, "Summary")
	d.out.line("%d hosts PROVISIONED in Inventory; amtsim: %d activated in %s (%d%% TLS-enforcing), %d CIRA tunnels up",
		d.o.hosts, d.o.hosts, strings.ToUpper(mode), d.o.tlsEnforced, d.o.hosts)
	d.out.line("elapsed:                 %s", round(time.Since(d.start)))
	d.out.line("DEMO OK")
	return nil
}

// uploadDomain posts a generated provisioning certificate for certtest.Suffix as the tenant admin would, and
// returns the amtsim flags that make the devices report that suffix and trust the certificate's root.
func (d *demo) uploadDomain(ctx context.Context) ([]string, error) {
	pki, err := certtest.Generate(certtest.LeafCN)
	if err != nil {
		return nil, fmt.Errorf("generate the demo's provisioning certificate: %w", err)
	}
	pfx, err := pki.EncodePFX(certtest.Password)
	if err != nil {
		return nil, fmt.Errorf("pack the demo's provisioning certificate: %w", err)
	}
	body, _ := json.Marshal(map[string]string{"profileName": "demo-domain", "domainSuffix": certtest.Suffix,
		"provisioningCert": base64.StdEncoding.EncodeToString(pfx), "provisioningCertPassword": certtest.Password,
		"provisioningCertStorageFormat": "string"})
	url := "http://" + d.o.apiAddress + "/v1/projects/" + d.tenant + "/dm/amt/admin/domains"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upload the domain: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("upload the domain: %s: %s", resp.Status, b)
	}
	sum := sha256.Sum256(pki.Root.Raw)
	d.out.line("tenant admin uploaded domain %s (POST %s: %s); its root's SHA-256 is given to amtsim as a trusted hash",
		certtest.Suffix, strings.TrimPrefix(url, "http://"+d.o.apiAddress), resp.Status)
	return []string{"-dnsSuffix", certtest.Suffix, "-trustHash", hex.EncodeToString(sum[:])}, nil
}

// activationPassword asks the southbound service for the first host's activation details, as PMA does, and
// returns the AMT password it hands out (the tenant's, under the default static policy).
func (d *demo) activationPassword(ctx context.Context) (string, error) {
	conn, err := grpc.NewClient(d.o.dmServerAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	token, err := agent.Token(d.tenant, time.Hour)
	if err != nil {
		return "", err
	}
	cctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	resp, err := pb.NewDeviceManagementClient(conn).RetrieveActivationDetails(cctx,
		&pb.ActivationRequest{HostId: d.uuids[0]})
	if err != nil {
		return "", fmt.Errorf("RetrieveActivationDetails for %s: %w", d.uuids[0], err)
	}
	d.out.line("southbound RetrieveActivationDetails: profile %s and the tenant's AMT password (given to amtsim as "+
		"-amtPassword, as PMA passes it to rpc-go)", resp.GetProfileName())
	return resp.GetActionPassword(), nil
}

// summaryRE reads amtsim's summary (cmd/amtsim fleetrun.go): activation outcomes, then modes and CIRA.
var summaryRE = regexp.MustCompile(`activation: (\d+) ok, (\d+) failed[^\n]*\n\s*modes: pre-provisioning (\d+), ` +
	`ccm (\d+), acm (\d+); CIRA configured (\d+), tunnels up (\d+)`)

// fleetDone reports whether amtsim's summary shows n activations ok, none failed, n devices in mode and n CIRA
// tunnels up.
func fleetDone(summary, mode string, n int) bool {
	m := summaryRE.FindStringSubmatch(summary)
	if m == nil {
		return false
	}
	num := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	inMode := num(4)
	if mode == "acm" {
		inMode = num(5)
	}
	return num(1) == n && num(2) == 0 && inMode == n && num(6) == n && num(7) == n
}

func fetch(ctx context.Context, url string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return string(b), err
}

// lockedBuffer collects amtsim's stdout and stderr, which exec copies from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeLoopback is a loopback address nothing listens on now (amtsim's control API).
func freeLoopback() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:8099"
	}
	defer l.Close()
	return l.Addr().String()
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(ansi.ReplaceAllString(s, ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// redact hides the password in the printed command line.
func redact(args []string, secret string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == secret && secret != "" {
			out[i] = "<tenant AMT password>"
		}
	}
	return out
}
