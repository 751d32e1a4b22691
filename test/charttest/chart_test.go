package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func emfValues(t *testing.T) string { return filepath.Join(chartDir(t), "values-emf.yaml") }

func TestChartVersionFollowsVERSIONFile(t *testing.T) {
	version, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "Chart.yaml"))
	require.NoError(t, err)
	var chart struct {
		APIVersion string `yaml:"apiVersion"`
		Version    string `yaml:"version"`
		AppVersion string `yaml:"appVersion"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &chart))
	want := strings.TrimSpace(string(version))
	assert.Equal(t, "v2", chart.APIVersion)
	assert.Equal(t, want, chart.AppVersion, "Chart.yaml appVersion must equal the VERSION file")
	assert.Equal(t, want, chart.Version, "Chart.yaml version must equal the VERSION file")
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
	}{
		{name: "defaults"},
		{name: "emf", values: []string{emfValues(t)}},
		{name: "embedded refs", values: []string{"testdata/values-embedded-refs.yaml"}},
		{name: "vault approle refs", values: []string{"testdata/values-vault-approle-refs.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"lint", "--strict", "--kube-version", kubeVersion, chartDir(t)}
			for _, v := range tc.values {
				args = append(args, "--values", v)
			}
			out, err := runHelm(t, args...)
			require.NoError(t, err)
			assert.Contains(t, out, "0 chart(s) failed")
		})
	}
}

func TestRenderEMF(t *testing.T) {
	r := render(t, "--values", emfValues(t))

	svc := r.get(t, "Service", "dm-manager")
	ports := byName(dig(svc, "spec", "ports"))
	for name, want := range map[string]struct {
		port  int
		proto string
	}{
		"grpc": {50058, "grpc"}, "cira": {4433, "tcp"}, "activation": {8080, "http"}, "api": {8090, "http"},
		"health": {2379, "grpc"}, "metrics": {8081, "http"},
	} {
		require.Containsf(t, ports, name, "Service port %s", name)
		assert.Equalf(t, want.port, ports[name]["port"], "Service port %s", name)
		assert.Equalf(t, want.proto, ports[name]["appProtocol"], "Service port %s appProtocol", name)
	}

	dep := r.get(t, "Deployment", "dm-manager")
	pod := dig(dep, "spec", "template", "spec")
	assertHardenedPod(t, dep)
	assert.Equal(t, "orch-svc", dig(pod, "serviceAccountName"))
	assert.Equal(t, true, dig(pod, "automountServiceAccountToken"), "Vault Kubernetes auth needs the SA token")
	assert.False(t, r.has("ServiceAccount"), "EMF's orch-svc service account already exists")

	c := dig(pod, "containers", 0)
	args := stringsOf(dig(c, "args"))
	for _, a := range []string{
		"-dmServerAddress=0.0.0.0:50058", "-ciraAddress=0.0.0.0:4433", "-activationAddress=0.0.0.0:8080",
		"-apiAddress=0.0.0.0:8090", "-oamServerAddress=0.0.0.0:2379", "-enableMetrics=true",
		"-metricsAddress=0.0.0.0:8081", "-inventoryAddress=inventory.orch-infra.svc:50051", "-insecureGRPC=true",
		"-enableAuth=true", "-rbacRules=/rego/authz.rego", "-passwordPolicy=static", "-reconcilePeriod=1m",
		"-requestTimeout=30s", "-statusChangeGracePeriod=1m", "-softPowerTimeout=30s", "-parallelism=10",
		"-secretsBackend=vault", "-vaultAuth=kubernetes", "-vaultRole=orch-svc", "-vaultKVMount=secret",
		"-vaultPathPrefix=dm-manager", "-infraConfigPath=/etc/infra-config/config.yaml",
	} {
		assert.Contains(t, args, a)
	}
	assertNoArgPrefix(t, args, "-ciraServerAddress=", "-activationURL=", "-databaseURL=")

	env := byName(dig(c, "env"))
	assert.Equal(t, "http://platform-keycloak.orch-platform.svc/realms/master", env["OIDC_SERVER_URL"]["value"])
	assert.Equal(t, "http://vault.orch-platform.svc.cluster.local:8200", env["VAULT_ADDR"]["value"])
	for _, k := range []string{"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"} {
		assertSecretRef(t, env, k, "dm-manager-local-postgresql", k)
	}
	assert.NotContains(t, env, "DM_SECRETS_KEY", "Vault backend needs no embedded store key")

	vols := byName(dig(pod, "volumes"))
	assert.Equal(t, "infra-config", dig(vols["infra-config"], "configMap", "name"))

	assertRoutes(t, r)

	np := r.get(t, "NetworkPolicy", "dm-manager")
	assert.ElementsMatch(t, []any{"Ingress", "Egress"}, dig(np, "spec", "policyTypes"))
	from := dig(np, "spec", "ingress", 0)
	assert.Equal(t, "orch-gateway", dig(from, "from", 0, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"))
	assert.ElementsMatch(t, []int{50058, 4433, 8080, 8090}, portsOf(dig(from, "ports")))
	prom := dig(np, "spec", "ingress", 1)
	assert.Equal(t, "orch-platform", dig(prom, "from", 0, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"))
	assert.Equal(t, []int{8081}, portsOf(dig(prom, "ports")))
	var egress []int
	for _, rule := range list(dig(np, "spec", "egress")) {
		egress = append(egress, portsOf(dig(rule, "ports"))...)
	}
	for _, p := range []int{53, 50051, 5432, 8200, 8080, 15012} {
		assert.Containsf(t, egress, p, "egress port %d (DNS, Inventory, Postgres, Vault, Keycloak, istiod)", p)
	}

	sm := r.get(t, "ServiceMonitor", "dm-manager")
	assert.Equal(t, "metrics", dig(sm, "spec", "endpoints", 0, "port"))
	assert.False(t, r.has("PodDisruptionBudget"), "one replica: a PDB would block node drains")
}

// assertRoutes checks the four Traefik routes EMF needs, with the EMF hosts, TLS and middlewares.
func assertRoutes(t *testing.T, r rendered) {
	t.Helper()
	for _, tc := range []struct {
		name, match string
		port        int
		scheme      string
		jwt         bool
	}{
		{"dm-manager-southbound", "Host(`device-manager-node.cluster.onprem`)", 50058, "h2c", true},
		{"dm-manager-activation", "Host(`rps.cluster.onprem`) && PathPrefix(`/activate`)", 8080, "http", false},
		{"dm-manager-api", "Host(`api.cluster.onprem`) && PathRegexp(`^/v1/projects/[^/]+/dm/`)", 8090, "http", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ir := r.get(t, "IngressRoute", tc.name)
			assert.Equal(t, "traefik.io/v1alpha1", ir["apiVersion"])
			assert.Equal(t, "orch-gateway", dig(ir, "metadata", "namespace"))
			assert.Equal(t, []string{"websecure"}, stringsOf(dig(ir, "spec", "entryPoints")))
			route := dig(ir, "spec", "routes", 0)
			assert.Equal(t, tc.match, dig(route, "match"))
			var mws []string
			for _, m := range list(dig(route, "middlewares")) {
				mws = append(mws, dig(m, "name").(string))
			}
			if tc.jwt {
				assert.Contains(t, mws, "validate-jwt")
			} else {
				assert.NotContains(t, mws, "validate-jwt", "rpc-go sends no JWT")
			}
			svc := dig(route, "services", 0)
			assert.Equal(t, "dm-manager", dig(svc, "name"))
			assert.Equal(t, releaseNS, dig(svc, "namespace"))
			assert.Equal(t, tc.port, dig(svc, "port"))
			assert.Equal(t, tc.scheme, dig(svc, "scheme"))
			assert.Equal(t, "tls-orch", dig(ir, "spec", "tls", "secretName"))
			assert.Equal(t, "gateway-tls", dig(ir, "spec", "tls", "options", "name"))
			assert.Equal(t, "orch-gateway", dig(ir, "spec", "tls", "options", "namespace"))
		})
	}

	// The API route's regexp (Traefik evaluates it with Go's regexp) takes only our tenant paths.
	api := dig(r.get(t, "IngressRoute", "dm-manager-api"), "spec", "routes", 0)
	m := regexp.MustCompile("PathRegexp\\(`([^`]+)`\\)").FindStringSubmatch(dig(api, "match").(string))
	require.NotNil(t, m)
	re := regexp.MustCompile(m[1])
	assert.True(t, re.MatchString("/v1/projects/acme/dm/amt/admin/domains"))
	assert.True(t, re.MatchString("/v1/projects/acme/dm/devices/1234"))
	assert.False(t, re.MatchString("/v1/projects/acme/compute/hosts"))
	assert.False(t, re.MatchString("/v1/projects/acme/x/dm/devices"))
	assert.Equal(t, "secure-headers", dig(api, "middlewares", 1, "name"), "EMF extra middleware after the JWT one")

	act := dig(r.get(t, "IngressRoute", "dm-manager-activation"), "spec", "routes", 0)
	assert.Equal(t, "dm-manager-activation-ws", dig(act, "middlewares", 0, "name"))
	ws := r.get(t, "Middleware", "dm-manager-activation-ws")
	assert.Equal(t, "websocket", dig(ws, "spec", "headers", "customRequestHeaders", "Upgrade"))

	tcp := r.get(t, "IngressRouteTCP", "dm-manager-cira")
	assert.Equal(t, "orch-gateway", dig(tcp, "metadata", "namespace"))
	assert.Equal(t, []string{"tcpamt"}, stringsOf(dig(tcp, "spec", "entryPoints")))
	assert.Equal(t, "HostSNI(`*`)", dig(tcp, "spec", "routes", 0, "match"))
	assert.Equal(t, 4433, dig(tcp, "spec", "routes", 0, "services", 0, "port"))
	assert.Equal(t, true, dig(tcp, "spec", "tls", "passthrough"), "the gateway terminates AMT's TLS itself")
}

// assertHardenedPod checks EMF's container security settings, the gRPC probes and the Istio exclusion.
func assertHardenedPod(t *testing.T, dep object) {
	t.Helper()
	tmpl := dig(dep, "spec", "template")
	assert.Equal(t, "4433", dig(tmpl, "metadata", "annotations", "traffic.sidecar.istio.io/excludeInboundPorts"))
	pod := dig(tmpl, "spec")
	assert.Equal(t, "RuntimeDefault", dig(pod, "securityContext", "seccompProfile", "type"))
	assert.Equal(t, true, dig(pod, "securityContext", "runAsNonRoot"))
	c := dig(pod, "containers", 0)
	sc := dig(c, "securityContext")
	assert.Equal(t, true, dig(sc, "runAsNonRoot"))
	assert.Equal(t, 65534, dig(sc, "runAsUser"))
	assert.Equal(t, true, dig(sc, "readOnlyRootFilesystem"))
	assert.Equal(t, false, dig(sc, "allowPrivilegeEscalation"))
	assert.Equal(t, []string{"ALL"}, stringsOf(dig(sc, "capabilities", "drop")))
	assert.Equal(t, "RuntimeDefault", dig(sc, "seccompProfile", "type"))
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		assert.Equalf(t, 2379, dig(c, probe, "grpc", "port"), "%s must be gRPC health on 2379", probe)
	}
	assert.NotNil(t, dig(c, "resources", "limits", "memory"))
	assert.NotNil(t, dig(c, "resources", "requests", "cpu"))
}

func TestRenderDefaults(t *testing.T) {
	r := render(t)
	dep := r.get(t, "Deployment", "dm-manager")
	assertHardenedPod(t, dep)
	pod := dig(dep, "spec", "template", "spec")
	assert.Equal(t, false, dig(pod, "automountServiceAccountToken"), "embedded backend needs no SA token")
	sa := r.get(t, "ServiceAccount", "dm-manager")
	assert.Equal(t, "dm-manager", dig(pod, "serviceAccountName"))
	assert.Equal(t, false, dig(sa, "automountServiceAccountToken"))

	env := byName(dig(pod, "containers", 0, "env"))
	assertSecretRef(t, env, "DM_DATABASE_URL", "dm-manager-database", "url")
	assertSecretRef(t, env, "DM_SECRETS_KEY", "dm-manager-secrets-key", "key")
	assert.NotContains(t, env, "VAULT_ADDR")
	assert.Equal(t, "483183820", dig(env["GOMEMLIMIT"], "value"), "GOMEMLIMIT: 90% of the 512Mi limit, in bytes")
	assert.Equal(t, "30", dig(env["GOGC"], "value"))

	ports := byName(dig(r.get(t, "Service", "dm-manager"), "spec", "ports"))
	assert.NotContains(t, ports, "metrics", "metrics port only when metrics.enabled")
	for _, kind := range []string{"ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget", "Middleware", "Secret"} {
		assert.Falsef(t, r.has(kind), "%s not rendered with default values", kind)
	}
	for _, name := range []string{"dm-manager-southbound", "dm-manager-activation", "dm-manager-api"} {
		assert.Equal(t, releaseNS, dig(r.get(t, "IngressRoute", name), "metadata", "namespace"))
	}
	r.get(t, "IngressRouteTCP", "dm-manager-cira")
}

func TestRenderOverrides(t *testing.T) {
	r := render(t, "--values", "testdata/values-embedded-refs.yaml")
	pod := dig(r.get(t, "Deployment", "dm-manager"), "spec", "template", "spec")
	args := stringsOf(dig(pod, "containers", 0, "args"))
	assert.Contains(t, args, "-ciraServerAddress=gw.example.test:4433")
	assert.Contains(t, args, "-activationURL=wss://act.example.test/activate")
	assert.Contains(t, args, "-insecureGRPC=false")
	assert.Contains(t, args, "-tlsKeyPath=/etc/dm-manager/inventory-tls/tls.key")
	assertNoArgPrefix(t, args, "-infraConfigPath=")
	// extraArgs come last, sorted by key.
	assert.Equal(t, []string{"-databaseConnectMaxBackoff=5s", "-databaseConnectRetries=5"}, args[len(args)-2:])
	assert.NotContains(t, byName(dig(pod, "volumes")), "infra-config")

	pdb := r.get(t, "PodDisruptionBudget", "dm-manager")
	assert.Equal(t, 1, dig(pdb, "spec", "minAvailable"))
	assert.Equal(t, "dm-manager", dig(pdb, "spec", "selector", "matchLabels", "app.kubernetes.io/name"))
	r.get(t, "NetworkPolicy", "dm-manager")
}

// TestRenderScaleOut: replicaCount > 1 renders what several replicas need — the replica API on its own port with
// the pod IP as the owner address, its secret from a Secret, a PDB, preferred anti-affinity, a NetworkPolicy letting
// replicas reach each other only on that port, a surge-first rolling update and one stop deadline inside the grace
// period.
func TestRenderScaleOut(t *testing.T) {
	r := render(t, "--values", "testdata/values-embedded-refs.yaml", "--set", "replicaCount=3",
		"--set", "terminationGracePeriodSeconds=40")
	dep := r.get(t, "Deployment", "dm-manager")
	assert.Equal(t, 3, dig(dep, "spec", "replicas"))
	assert.Equal(t, "RollingUpdate", dig(dep, "spec", "strategy", "type"))
	assert.Equal(t, 1, dig(dep, "spec", "strategy", "rollingUpdate", "maxSurge"))
	assert.Equal(t, 0, dig(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable"))
	pod := dig(dep, "spec", "template", "spec")
	assert.Equal(t, 40, dig(pod, "terminationGracePeriodSeconds"))
	c := dig(pod, "containers", 0)
	args := stringsOf(dig(c, "args"))
	assert.Contains(t, args, "-replicaListenAddress=0.0.0.0:50059")
	assert.Contains(t, args, "-replicaAddress=$(POD_IP):50059", "the owner address is the pod IP (downward API)")
	assert.Contains(t, args, "-shutdownTimeout=35s", "grace period minus the 5s margin")
	env := byName(dig(c, "env"))
	assert.Equal(t, "status.podIP", dig(env["POD_IP"], "valueFrom", "fieldRef", "fieldPath"))
	assertSecretRef(t, env, "DM_REPLICA_SECRET", "zz-replica-secret-3a1f", "zz-replica-key-6c")
	assert.Equal(t, 50059, byName(dig(c, "ports"))["replica"]["containerPort"])
	term := dig(pod, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm")
	assert.Equal(t, "kubernetes.io/hostname", dig(term, "topologyKey"))
	assert.Equal(t, "dm-manager", dig(term, "labelSelector", "matchLabels", "app.kubernetes.io/name"))
	assert.Equal(t, 1, dig(r.get(t, "PodDisruptionBudget", "dm-manager"), "spec", "minAvailable"))

	np := r.get(t, "NetworkPolicy", "dm-manager")
	var peerIn, peerOut [][]int
	for _, rule := range list(dig(np, "spec", "ingress")) {
		if dig(rule, "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/name") == "dm-manager" {
			peerIn = append(peerIn, portsOf(dig(rule, "ports")))
		}
	}
	for _, rule := range list(dig(np, "spec", "egress")) {
		if dig(rule, "to", 0, "podSelector", "matchLabels", "app.kubernetes.io/name") == "dm-manager" {
			peerOut = append(peerOut, portsOf(dig(rule, "ports")))
		}
	}
	assert.Equal(t, [][]int{{50059}}, peerIn, "replicas reach each other only on the replica port")
	assert.Equal(t, [][]int{{50059}}, peerOut, "replicas reach each other only on the replica port")

	// One replica: no replica API, no anti-affinity, no peer rules; the stop deadline still follows the grace period.
	one := render(t, "--values", "testdata/values-embedded-refs.yaml", "--set", "replicaCount=1")
	pod = dig(one.get(t, "Deployment", "dm-manager"), "spec", "template", "spec")
	args = stringsOf(dig(pod, "containers", 0, "args"))
	assertNoArgPrefix(t, args, "-replicaListenAddress=", "-replicaAddress=")
	assert.Contains(t, args, "-shutdownTimeout=25s")
	assert.Nil(t, dig(pod, "affinity"))
	assert.NotContains(t, byName(dig(pod, "containers", 0, "env")), "DM_REPLICA_SECRET")

	// Mutual TLS: the flags point at the mounted Secret (tls.crt, tls.key, ca.crt).
	mtls := render(t, "--values", "testdata/values-embedded-refs.yaml", "--set", "replicaCount=2",
		"--set", "replica.tls.existingSecret=zz-replica-tls-9d")
	pod = dig(mtls.get(t, "Deployment", "dm-manager"), "spec", "template", "spec")
	args = stringsOf(dig(pod, "containers", 0, "args"))
	for _, a := range []string{"-replicaTLSCertFile=/etc/dm-manager/replica-tls/tls.crt",
		"-replicaTLSKeyFile=/etc/dm-manager/replica-tls/tls.key", "-replicaTLSCAFile=/etc/dm-manager/replica-tls/ca.crt"} {
		assert.Contains(t, args, a)
	}
	assert.Equal(t, "/etc/dm-manager/replica-tls", byName(dig(pod, "containers", 0, "volumeMounts"))["replica-tls"]["mountPath"])
	assert.Equal(t, "zz-replica-tls-9d", dig(byName(dig(pod, "volumes"))["replica-tls"], "secret", "secretName"))
	assertNoArgPrefix(t, stringsOf(dig(one.get(t, "Deployment", "dm-manager"), "spec", "template", "spec", "containers", 0,
		"args")), "-replicaTLS")

	_, err := runHelm(t, templateArgs(t, "--values", "testdata/values-embedded-refs.yaml", "--set",
		"replica.secret.existingSecret=")...)
	require.ErrorContains(t, err, "replica.secret.existingSecret is required")
	_, err = runHelm(t, templateArgs(t, "--values", "testdata/values-embedded-refs.yaml", "--set",
		"terminationGracePeriodSeconds=5")...)
	require.ErrorContains(t, err, "terminationGracePeriodSeconds must exceed shutdownMarginSeconds")
}

func assertSecretRef(t *testing.T, env map[string]map[string]any, name, secret, key string) {
	t.Helper()
	require.Containsf(t, env, name, "env %s", name)
	assert.Nilf(t, env[name]["value"], "env %s must not carry a literal value", name)
	assert.Equalf(t, secret, dig(env[name], "valueFrom", "secretKeyRef", "name"), "env %s Secret name", name)
	assert.Equalf(t, key, dig(env[name], "valueFrom", "secretKeyRef", "key"), "env %s Secret key", name)
}

func assertNoArgPrefix(t *testing.T, args []string, prefixes ...string) {
	t.Helper()
	for _, a := range args {
		for _, p := range prefixes {
			assert.Falsef(t, strings.HasPrefix(a, p), "unexpected arg %s", a)
		}
	}
}

func portsOf(v any) []int {
	var ports []int
	for _, p := range list(v) {
		if n, ok := dig(p, "port").(int); ok {
			ports = append(ports, n)
		}
	}
	return ports
}

// The dashboard and the alerts are off by default (TestRenderDefaults renders neither); on, the dashboard is the
// chart's JSON file and each alert the issue names is a rule.
func TestRenderDashboardAndAlerts(t *testing.T) {
	r := render(t, "--set", "metrics.enabled=true", "--set", "metrics.grafanaDashboard.enabled=true",
		"--set", "metrics.prometheusRule.enabled=true", "--set-json", "metrics.prometheusRule.activationFailureRatio=0.3")
	cm := r.get(t, "ConfigMap", "dm-manager-dashboard")
	assert.Equal(t, "1", dig(cm, "metadata", "labels", "grafana_dashboard"))
	want, err := os.ReadFile(filepath.Join(chartDir(t), "dashboards", "dm-manager.json"))
	require.NoError(t, err)
	got, _ := dig(cm, "data", "dm-manager.json").(string)
	require.JSONEq(t, string(want), got)
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(want, &dash))
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			assert.Contains(t, tg.Expr, "dm_manager_", "every panel shows dm-manager's own metrics")
		}
	}

	rule := r.get(t, "PrometheusRule", "dm-manager")
	rules, _ := dig(rule, "spec", "groups", 0, "rules").([]any)
	exprs := map[string]string{}
	for _, x := range rules {
		m, _ := x.(map[string]any)
		exprs[m["alert"].(string)], _ = m["expr"].(string)
	}
	for alert, metric := range map[string]string{
		"DMManagerCIRASessionsDropping":  "dm_manager_ciragw_sessions",
		"DMManagerActivationFailureRate": "dm_manager_activations_total",
		"DMManagerInventoryErrors":       "dm_manager_inventory_writes_total",
		"DMManagerEventsDropped":         "dm_manager_events_dropped_total",
	} {
		assert.Contains(t, exprs[alert], metric, alert)
	}
	assert.Contains(t, exprs["DMManagerActivationFailureRate"], "> 0.3", "threshold from values")

	off := render(t, "--set", "metrics.enabled=true")
	assert.False(t, off.has("PrometheusRule"), "alerts off by default")
	_, found := off.find("ConfigMap", "dm-manager-dashboard")
	assert.False(t, found, "dashboard off by default")
}

// TestRenderGoMemLimit: GOMEMLIMIT follows resources.limits.memory (90%, in bytes), and is left out without a limit.
func TestRenderGoMemLimit(t *testing.T) {
	for limit, want := range map[string]any{"1Gi": "966367641", "2000M": "1800000000", "1073741824": "966367641", "": nil} {
		r := render(t, "--set-string", "resources.limits.memory="+limit, "--set-string", "goGC=")
		env := byName(dig(r.get(t, "Deployment", "dm-manager"), "spec", "template", "spec", "containers", 0, "env"))
		assert.NotContains(t, env, "GOGC", "goGC empty: Go's default")
		if want == nil {
			assert.NotContains(t, env, "GOMEMLIMIT", "no limit")
			continue
		}
		assert.Equal(t, want, dig(env["GOMEMLIMIT"], "value"), limit)
	}
}
