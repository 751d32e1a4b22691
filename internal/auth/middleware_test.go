package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
)

func TestHTTPMiddleware(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	// The handler plays the API: tenant from the header, 403 without im-rw in it.
	h := auth.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := auth.ClaimsFromContext(r.Context())
		require.True(t, ok)
		if err := c.Authorize(r.Header.Get(auth.HeaderActiveProjectID), auth.RoleIMRW); err != nil {
			auth.WriteHTTPError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	tests := []struct {
		name      string
		authz     string
		project   string
		want      int
		challenge string
	}{
		{"no token", "", tenantA, http.StatusUnauthorized, `Bearer realm="dm-manager"`},
		{"basic scheme", "Basic Zm9vOmJhcg==", tenantA, http.StatusUnauthorized, `Bearer realm="dm-manager"`},
		{"bad token", "Bearer x.y.z", tenantA, http.StatusUnauthorized, `Bearer realm="dm-manager", error="invalid_token"`},
		{"role in project", "Bearer " + authtest.HS256(t, authtest.Claims(tenantA+"_im-rw")), tenantA, http.StatusNoContent, ""},
		{"lower-case scheme", "bearer " + authtest.HS256(t, authtest.Claims(tenantA+"_im-rw")), tenantA, http.StatusNoContent, ""},
		{"read-only role", "Bearer " + authtest.HS256(t, authtest.Claims(tenantA+"_im-r")), tenantA, http.StatusForbidden, ""},
		{"other project", "Bearer " + authtest.HS256(t, authtest.Claims(tenantA+"_im-rw")), tenantB, http.StatusForbidden, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			req.Header.Set(auth.HeaderActiveProjectID, tc.project)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
			require.Equal(t, tc.challenge, resp.Header.Get("WWW-Authenticate"))
			if tc.want >= 400 {
				var body map[string]string
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
				require.NotEmpty(t, body["message"])
			}
		})
	}
}

func TestGRPCInterceptor(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	icpt := auth.UnaryServerInterceptor(v)
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := auth.ClaimsFromContext(ctx)
		require.True(t, ok)
		tenant, err := c.TenantFor(auth.ActiveProjectID(ctx), auth.RoleENAgentRW)
		if err != nil {
			return nil, auth.GRPCError(err)
		}
		return tenant, nil
	}
	call := func(md metadata.MD) (any, error) {
		ctx := metadata.NewIncomingContext(context.Background(), md)
		return icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, handler)
	}
	agent := "Bearer " + authtest.HS256(t, authtest.Claims(authtest.ENRoles(tenantA)...))

	got, err := call(metadata.Pairs("authorization", agent))
	require.NoError(t, err)
	require.Equal(t, tenantA, got)

	_, err = call(metadata.MD{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	_, err = call(metadata.Pairs("authorization", agent, "activeprojectid", tenantB))
	require.Equal(t, codes.PermissionDenied, status.Code(err))
}
