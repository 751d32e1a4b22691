package southbound_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/auth/authtest"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/test/invtest"
)

// TestAgentAuth: who may call, and for which tenant. A token for project A never reaches project B's hosts; the
// answer is NotFound, the same as for a host that does not exist, so an agent cannot probe other tenants' UUIDs.
func TestAgentAuth(t *testing.T) {
	e := newEnv(t, true)
	tenantA, tenantB := uuid.NewString(), uuid.NewString()
	hostB := invtest.DAO(t).CreateHost(t, tenantB)
	expired := authtest.Claims(authtest.ENRoles(tenantB)...)
	expired["exp"] = time.Now().Add(-time.Minute).Unix()

	tests := []struct {
		name  string
		token string
		md    []string
		code  codes.Code
	}{
		{"own tenant, HS256", agentToken(t, tenantB), nil, codes.OK},
		{"own tenant, RS256 from JWKS", e.issuer.Sign(t, jwt.SigningMethodRS256, "k1", authtest.Claims(authtest.ENRoles(tenantB)...)), nil, codes.OK},
		{"own tenant, PS256 from JWKS", e.issuer.Sign(t, jwt.SigningMethodPS256, "k1", authtest.Claims(authtest.ENRoles(tenantB)...)), nil, codes.OK},
		{"activeprojectid agrees", agentToken(t, tenantB), []string{"activeprojectid", tenantB}, codes.OK},
		{"activeprojectid selects among the token's projects", agentToken(t, tenantA, tenantB), []string{"activeprojectid", tenantB}, codes.OK},
		{"other tenant's host", agentToken(t, tenantA), nil, codes.NotFound},
		{"activeprojectid outside the token", agentToken(t, tenantA), []string{"activeprojectid", tenantB}, codes.PermissionDenied},
		{"two projects, no activeprojectid", agentToken(t, tenantA, tenantB), nil, codes.PermissionDenied},
		{"user token without the agent role", authtest.HS256(t, authtest.Claims(tenantB+"_im-rw")), nil, codes.PermissionDenied},
		{"no token", "", nil, codes.Unauthenticated},
		{"expired token", authtest.HS256(t, expired), nil, codes.Unauthenticated},
		{"tampered token", e.issuer.Sign(t, jwt.SigningMethodRS256, "k1", authtest.Claims())[:20] + "x.y", nil, codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.ReportAMTStatus(agentCtx(t, tc.token, tc.md...), &pb.AMTStatusRequest{
				HostId: hostB.GetUuid(), Status: pb.AMTStatus_DISABLED,
			})
			if tc.code == codes.OK {
				// DISABLED on a fresh host is "unchanged": the call got through auth and found the host.
				require.Equal(t, codes.FailedPrecondition, status.Code(err), "err: %v", err)
				return
			}
			require.Equal(t, tc.code, status.Code(err), "err: %v", err)
		})
	}
}

// TestAuthDisabled (-enableAuth=false): the tenant comes from activeprojectid or, as in EMF, from the token's
// roles without a signature check.
func TestAuthDisabled(t *testing.T) {
	e := newEnv(t, false)
	tenant := uuid.NewString()
	host := invtest.DAO(t).CreateHost(t, tenant)
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodHS256, authtest.Claims(authtest.ENRoles(tenant)...)).
		SignedString([]byte("any key at all"))
	require.NoError(t, err)

	tests := []struct {
		name  string
		token string
		md    []string
		code  codes.Code
	}{
		{"activeprojectid", "", []string{"activeprojectid", tenant}, codes.OK},
		{"roles of an unverified token", unsigned, nil, codes.OK},
		{"nothing", "", nil, codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.ReportAMTStatus(agentCtx(t, tc.token, tc.md...), &pb.AMTStatusRequest{
				HostId: host.GetUuid(), Status: pb.AMTStatus_ENABLED, Feature: "AMT",
			})
			if tc.code == codes.OK {
				if status.Code(err) == codes.FailedPrecondition {
					err = nil // second OK case: the SKU is already AMT
				}
				require.NoError(t, err)
				require.Equal(t, computev1.AmtSku_AMT_SKU_AMT, readHost(t, e, tenant, host.GetResourceId()).GetAmtSku())
				return
			}
			require.Equal(t, tc.code, status.Code(err), "err: %v", err)
		})
	}
}
