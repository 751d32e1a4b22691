package charttest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type secretRef struct{ secret, key string }

// Environment variables that carry a secret: each must come from a secretKeyRef.
var secretEnv = []string{
	"DM_SECRETS_KEY", "DM_REPLICA_SECRET", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID",
	"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE",
}

var (
	credentialURL = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:'"]+:[^/\s@'"]+@`)
	passwordKV    = regexp.MustCompile(`password=\S*`)
)

func TestNoSecretMaterialRendered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		refs   map[string]secretRef // env name -> Secret reference the chart must render
		volume secretRef            // Secret mounted as a volume (name only)
	}{
		{name: "defaults"},
		{name: "emf", values: []string{emfValues(t)}},
		{
			name:   "embedded refs",
			values: []string{"testdata/values-embedded-refs.yaml"},
			refs: map[string]secretRef{
				"DM_DATABASE_URL":   {"zz-db-url-7f3c", "zz-url-key-91"},
				"DM_SECRETS_KEY":    {"zz-seal-key-4b2e", "zz-seal-field-d8"},
				"DM_REPLICA_SECRET": {"zz-replica-secret-3a1f", "zz-replica-key-6c"},
			},
			volume: secretRef{secret: "zz-inv-tls-55"},
		},
		{
			name:   "vault approle refs",
			values: []string{"testdata/values-vault-approle-refs.yaml"},
			refs: map[string]secretRef{
				"PGHOST":          {"zz-pg-creds-c4d2", "PGHOST"},
				"PGPASSWORD":      {"zz-pg-creds-c4d2", "PGPASSWORD"},
				"PGUSER":          {"zz-pg-creds-c4d2", "PGUSER"},
				"VAULT_ROLE_ID":   {"zz-approle-0a1b", "zz-role-field-e5"},
				"VAULT_SECRET_ID": {"zz-approle-0a1b", "zz-secret-field-f6"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			for _, v := range tc.values {
				args = append(args, "--values", v)
			}
			r := render(t, args...)

			assert.False(t, r.has("Secret"), "the chart must not create Secrets (values hold no secret values)")
			// The only ConfigMap is the RBAC policy (public rego); the checks below scan its text like the rest.
			for _, n := range r.names() {
				if strings.HasPrefix(n, "ConfigMap/") {
					assert.Equal(t, "ConfigMap/dm-manager-rbac", n, "nothing secret may travel in a ConfigMap either")
				}
			}
			assert.Empty(t, credentialURL.FindAllString(r.raw, -1), "URL with embedded credentials rendered")
			assert.NotContains(t, r.raw, "PRIVATE KEY")
			for _, kv := range passwordKV.FindAllString(r.raw, -1) {
				assert.Equal(t, "password='$(PGPASSWORD)'", kv, "only the kubelet-expanded PGPASSWORD reference may appear")
			}

			pod := dig(r.get(t, "Deployment", "dm-manager"), "spec", "template", "spec")
			env := byName(dig(pod, "containers", 0, "env"))
			for _, name := range secretEnv {
				if _, ok := env[name]; ok {
					assert.NotNilf(t, dig(env[name], "valueFrom", "secretKeyRef"), "env %s must come from a Secret", name)
				}
			}
			if url, ok := env["DM_DATABASE_URL"]; ok && url["value"] != nil {
				assert.Contains(t, url["value"], "password='$(PGPASSWORD)'", "composed DSN must only reference PGPASSWORD")
			} else {
				assert.NotNil(t, dig(url, "valueFrom", "secretKeyRef"), "DM_DATABASE_URL must come from a Secret")
			}
			for name, ref := range tc.refs {
				assertSecretRef(t, env, name, ref.secret, ref.key)
			}
			if tc.volume.secret != "" {
				var mounted []string
				for _, v := range list(dig(pod, "volumes")) {
					if s, ok := dig(v, "secret", "secretName").(string); ok {
						mounted = append(mounted, s)
					}
				}
				assert.Contains(t, mounted, tc.volume.secret)
			}

			// The distinctive test names may appear only where Kubernetes expects a Secret reference.
			for _, o := range r.objects {
				walkStrings(o, "", func(path, s string) {
					if !strings.Contains(s, "zz-") {
						return
					}
					assert.Truef(t, strings.HasSuffix(path, ".secretKeyRef.name") ||
						strings.HasSuffix(path, ".secretKeyRef.key") || strings.HasSuffix(path, ".secret.secretName"),
						"secret reference %q copied to %s %v at %s", s, o["kind"], dig(o, "metadata", "name"), path)
				})
			}
		})
	}
}

func walkStrings(v any, path string, fn func(path, s string)) {
	switch x := v.(type) {
	case object:
		walkStrings(map[string]any(x), path, fn)
	case map[string]any:
		for k, e := range x {
			walkStrings(e, path+"."+k, fn)
		}
	case []any:
		for i, e := range x {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case string:
		fn(path, x)
	}
}

func TestValuesRejected(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     []string
		wantErr string
	}{
		// The closed schema keeps secret values out of plain values (and so out of the Helm release record).
		{"EMF static password value", []string{"params.password=Sup3r-Secr3t"}, "params"},
		{"database password value", []string{"database.password=Sup3r-Secr3t"}, "password"},
		{"vault token value", []string{"secrets.backend=vault", "secrets.vault.token=hvs.Sup3rSecr3t"}, "token"},
		{"secrets key value", []string{"secrets.embedded.value=c2VjcmV0"}, "value"},
		{"unknown backend", []string{"secrets.backend=file"}, "backend"},
		{"unknown password policy", []string{"passwordPolicy=weak"}, "passwordPolicy"},
		{"bad duration", []string{"softPowerTimeout=30"}, "softPowerTimeout"},
		{"no advertised gateway", []string{"advertise.infraConfig.enabled=false",
			"advertise.activationURL=wss://a.example/activate"}, "advertise.ciraServerAddress is required"},
		{"no advertised activation URL", []string{"advertise.infraConfig.enabled=false",
			"advertise.ciraServerAddress=gw.example:4433"}, "advertise.activationURL is required"},
		{"two database forms", []string{"database.pgSecret=pg"}, "set only one of database.existingSecret"},
		{"no database", []string{"database.existingSecret="}, "database.existingSecret"},
		{"vault token auth without Secret", []string{"secrets.backend=vault", "secrets.vault.auth=token"},
			"secrets.vault.tokenSecret.name is required"},
		{"vault approle without Secret", []string{"secrets.backend=vault", "secrets.vault.auth=approle"},
			"secrets.vault.approleSecret.name is required"},
		{"inventory TLS without Secret", []string{"inventory.insecureGRPC=false"}, "inventory.tlsSecretName is required"},
		{"existing SA without name", []string{"serviceAccount.create=false"}, "serviceAccount.name is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, templateArgs(t, args...)...)
			var herr *helmError
			require.ErrorAs(t, err, &herr, "helm template accepted %v", tc.set)
			assert.Contains(t, herr.Output, tc.wantErr)
			assert.Empty(t, out, "no manifest may be rendered for rejected values")
			assert.NotContains(t, herr.Output, "Sup3r", "helm's error must not echo the secret value")
		})
	}
}
