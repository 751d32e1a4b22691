package charttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	// Kubernetes version the chart is rendered for; gRPC probes need >= 1.27. Passed explicitly because a helm
	// built with plain `go build` defaults to v1.20.
	kubeVersion = "1.30.0"
	releaseName = "dm-manager"
	releaseNS   = "orch-infra"
)

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error

	errNoGoTool = errors.New("no go tool in PATH")
)

// repoRoot walks up from the package directory to the directory holding VERSION and go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		_, errV := os.Stat(filepath.Join(dir, "VERSION"))
		_, errM := os.Stat(filepath.Join(dir, "go.mod"))
		if errV == nil && errM == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "repository root (VERSION + go.mod) not found above the test directory")
		dir = parent
	}
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "charts", "dm-manager") }

// helm returns the helm binary, building it once per test process. It skips only when there is no go tool to
// build with; any other build failure fails the test.
func helm(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	helmOnce.Do(func() { helmPath, helmErr = ensureHelm(root) })
	if errors.Is(helmErr, errNoGoTool) {
		t.Skipf("cannot build helm for the chart test: %v; install Go or put a helm %s at %s",
			helmErr, "matching test/tools/helm/go.mod", filepath.Join(root, ".cache", "bin", "helm"))
	}
	require.NoError(t, helmErr)
	return helmPath
}

var pinnedHelmRE = regexp.MustCompile(`(?m)^\s*helm\.sh/helm/v3 (v\S+)`)

// ensureHelm reuses <root>/.cache/bin/helm when it reports the version pinned in test/tools/helm/go.mod, and
// otherwise builds it from that module (its own go.mod keeps helm's dependencies out of the main module).
func ensureHelm(root string) (string, error) {
	toolDir := filepath.Join(root, "test", "tools", "helm")
	gomod, err := os.ReadFile(filepath.Join(toolDir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("read helm tool module: %w", err)
	}
	m := pinnedHelmRE.FindSubmatch(gomod)
	if m == nil {
		return "", errors.New("test/tools/helm/go.mod does not require helm.sh/helm/v3")
	}
	want := string(m[1])
	bin := filepath.Join(root, ".cache", "bin", "helm")
	if out, err := exec.Command(bin, "version", "--template", "{{.Version}}").Output(); err == nil &&
		strings.TrimSpace(string(out)) == want {
		return bin, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w: %v", errNoGoTool, err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(bin), err)
	}
	// Build to a private name and rename, so a concurrent test process never runs a half-written binary.
	tmp := bin + ".tmp-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(goTool, "build", "-mod=readonly",
		"-ldflags", "-X helm.sh/helm/v3/internal/version.version="+want,
		"-o", tmp, "helm.sh/helm/v3/cmd/helm")
	cmd.Dir = toolDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("build helm %s in %s: %w (a cold module cache needs the Go module proxy once: "+
			"`cd test/tools/helm && go mod download`)\n%s", want, toolDir, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("install helm binary: %w", err)
	}
	return bin, nil
}

// helmError is a failed helm run; Output is what helm itself printed on stderr.
type helmError struct {
	Args   []string
	Err    error
	Output string
}

func (e *helmError) Error() string {
	return fmt.Sprintf("helm %s: %v\n%s", strings.Join(e.Args, " "), e.Err, e.Output)
}

// runHelm runs helm with args in a private helm home and returns stdout, or a *helmError.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	if err := cmd.Run(); err != nil {
		return stdout.String(), &helmError{Args: args, Err: err, Output: stderr.String()}
	}
	return stdout.String(), nil
}

// templateArgs builds `helm template` arguments for the chart with extra flags (values files, --set).
func templateArgs(t *testing.T, extra ...string) []string {
	return append([]string{"template", releaseName, chartDir(t), "--namespace", releaseNS,
		"--kube-version", kubeVersion}, extra...)
}

// object is one rendered Kubernetes object.
type object map[string]any

type rendered struct {
	raw     string
	objects []object
}

// render runs `helm template` and decodes every YAML document of the output.
func render(t *testing.T, extra ...string) rendered {
	t.Helper()
	out, err := runHelm(t, templateArgs(t, extra...)...)
	require.NoError(t, err)
	r := rendered{raw: out}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		// Decode into a plain map: yaml.v3 would give nested maps the named type too.
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "rendered output is not valid YAML")
		if m != nil {
			r.objects = append(r.objects, object(m))
		}
	}
	require.NotEmpty(t, r.objects)
	return r
}

// get returns the object of the given kind and name, failing the test when it is missing.
func (r rendered) get(t *testing.T, kind, name string) object {
	t.Helper()
	o, ok := r.find(kind, name)
	require.Truef(t, ok, "no %s %q rendered; have %v", kind, name, r.names())
	return o
}

func (r rendered) find(kind, name string) (object, bool) {
	for _, o := range r.objects {
		if o["kind"] == kind && dig(o, "metadata", "name") == name {
			return o, true
		}
	}
	return nil, false
}

func (r rendered) has(kind string) bool {
	for _, o := range r.objects {
		if o["kind"] == kind {
			return true
		}
	}
	return false
}

func (r rendered) names() []string {
	var s []string
	for _, o := range r.objects {
		s = append(s, fmt.Sprintf("%v/%v", o["kind"], dig(o, "metadata", "name")))
	}
	return s
}

// dig follows map keys (string) and list indices (int); nil when any step is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				if o, isObj := v.(object); isObj {
					m = o
				} else {
					return nil
				}
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// byName indexes a list of maps by their "name" field (container ports, env, volumes).
func byName(v any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range list(v) {
		if m, ok := e.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				out[n] = m
			}
		}
	}
	return out
}

func stringsOf(v any) []string {
	var s []string
	for _, e := range list(v) {
		s = append(s, fmt.Sprint(e))
	}
	return s
}
