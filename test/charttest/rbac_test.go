package charttest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
)

// TestRBACPolicyShipped: the pod reads the policy dm-manager is tested with (-rbacRules), from the chart's own
// ConfigMap, unless the operator names another.
func TestRBACPolicyShipped(t *testing.T) {
	r := render(t, "--values", emfValues(t))
	cm := r.get(t, "ConfigMap", "dm-manager-rbac")
	assert.Equal(t, auth.DefaultPolicy, dig(cm, "data", "authz.rego"), "charts/dm-manager/files/authz.rego must "+
		"equal internal/auth/rego/authz.rego")

	pod := dig(r.get(t, "Deployment", "dm-manager"), "spec", "template", "spec")
	mounts := byName(dig(pod, "containers", 0, "volumeMounts"))
	require.Contains(t, mounts, "rbac")
	assert.Equal(t, "/rego", mounts["rbac"]["mountPath"])
	vols := byName(dig(pod, "volumes"))
	require.Contains(t, vols, "rbac")
	assert.Equal(t, "dm-manager-rbac", dig(vols["rbac"], "configMap", "name"))
	assert.Equal(t, "authz.rego", dig(vols["rbac"], "configMap", "items", 0, "path"))

	own := render(t, "--values", emfValues(t), "--set", "auth.rbacConfigMap=site-rbac")
	_, shipped := own.find("ConfigMap", "dm-manager-rbac")
	assert.False(t, shipped, "an operator's ConfigMap replaces the shipped one")
	vols = byName(dig(own.get(t, "Deployment", "dm-manager"), "spec", "template", "spec", "volumes"))
	assert.Equal(t, "site-rbac", dig(vols["rbac"], "configMap", "name"))
}
