package serverun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// procSample is a process measured from outside, through /proc/<pid>.
type procSample struct {
	rssKB int64
	cpu   time.Duration // utime + stime
	at    time.Time
}

func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			s.rssKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("serverun: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("serverun: /proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("serverun: /proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	return s, nil
}

// scrape sums the series of each named metric family on a /metrics page (Prometheus text format).
func scrape(ctx context.Context, c *http.Client, addr string, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("serverun: GET %s/metrics: %s", addr, resp.Status)
	}
	return sumMetrics(resp.Body, names...)
}

func sumMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	out := make(map[string]float64, len(names))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		for _, n := range names {
			rest, ok := strings.CutPrefix(line, n)
			if !ok || rest == "" || rest[0] != ' ' && rest[0] != '{' {
				continue
			}
			f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
			if len(f) == 0 {
				continue
			}
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[n] += v
			}
		}
	}
	return out, sc.Err()
}

// profile fetches, from every replica and fleet process at once, a CPU profile over d (whole seconds, at least
// one) into Dir/<process>-<name>.pprof when Options.Profile is set; the function returned waits for them.
func (s *system) profile(ctx context.Context, name string, d time.Duration) func() {
	return s.fetchEach(ctx, "profile", name+".pprof", d)
}

// trace fetches, the same way, an execution trace of the first d into Dir/<process>-<name>.trace (go tool trace
// -pprof=sched FILE: where goroutines waited for a CPU).
func (s *system) trace(ctx context.Context, name string, d time.Duration) func() {
	return s.fetchEach(ctx, "trace", name+".trace", d)
}

// fetchEach gets /debug/pprof/<endpoint>?seconds=d from every replica and fleet process at once into
// Dir/<process>-<file> when Options.Profile is set; the function returned waits for them.
func (s *system) fetchEach(ctx context.Context, endpoint, file string, d time.Duration) func() {
	if !s.o.Profile {
		return func() {}
	}
	secs := max(1, int(d.Seconds()))
	var wg sync.WaitGroup
	for _, r := range s.replicas {
		url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", r.metrics, endpoint, secs)
		s.fetchProfile(ctx, &wg, url, filepath.Join(s.o.Dir, r.id+"-"+file))
	}
	for i, addr := range s.fleetDebug {
		url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, endpoint, secs)
		s.fetchProfile(ctx, &wg, url, filepath.Join(s.o.Dir, fmt.Sprintf("fleet-%d-%s", i, file)))
	}
	return wg.Wait
}

// heapProfile saves every replica's heap profile into Dir/<replica>-<name>.pprof when Options.Profile is set.
func (s *system) heapProfile(ctx context.Context, name string) {
	if !s.o.Profile {
		return
	}
	var wg sync.WaitGroup
	for _, r := range s.replicas {
		s.fetchProfile(ctx, &wg, "http://"+r.metrics+"/debug/pprof/heap", filepath.Join(s.o.Dir, r.id+"-"+name+".pprof"))
	}
	wg.Wait()
}

func (s *system) fetchProfile(ctx context.Context, wg *sync.WaitGroup, url, path string) {
	wg.Go(func() {
		if err := fetchTo(ctx, url, path); err != nil {
			s.say("profile %s: %v", path, err)
		}
	})
}

// clientProfile profiles this process (the REST client) into Dir/name.pprof until the function returned is called.
func (s *system) clientProfile(name string) func() {
	if !s.o.Profile {
		return func() {}
	}
	path := filepath.Join(s.o.Dir, name+".pprof")
	f, err := os.Create(path) //nolint:gosec // G304: the run's own directory
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		s.say("profile %s: %v", path, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
