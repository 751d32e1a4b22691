# dm-manager's RBAC policy (-rbacRules). dm-manager evaluates data.dmmanager.authz.allow in process for every
# authenticated REST request and southbound call, with input:
#   access:  "read" (REST GET), "write" (REST POST/PATCH/PUT/DELETE) or "agent" (node agent gRPC)
#   project: the project (tenant) UUID the request acts for, lower case
#   roles:   every role of the token (realm_access.roles and each resource_access.<client>.roles)
# Keycloak names a project role "<project UUID>_<role>" (EMF).
package dmmanager.authz

import rego.v1

default allow := false

granted contains access if {
	some role in input.roles
	some suffix, accesses in role_access
	lower(role) == sprintf("%s_%s", [input.project, suffix])
	some access in accesses
}

# Which accesses each project role grants.
role_access := {
	"im-rw": {"read", "write"},
	"im-r": {"read"},
	"en-agent-rw": {"agent"},
}

allow if input.access in granted
