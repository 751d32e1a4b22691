package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
)

const tenantB = "22222222-2222-2222-2222-222222222222"

func TestTenantFromRoles(t *testing.T) {
	tests := []struct {
		name    string
		roles   []string
		want    string
		wantErr string
	}{
		{"one project", []string{"default-roles-master", tenantA + "_en-agent-rw"}, tenantA, ""},
		{"same project twice", []string{tenantA + "_en-agent-rw", tenantA + "_en-agent-rw", tenantB + "_im-rw"}, tenantA, ""},
		{"upper-case UUID is normalised", []string{"AAAAAAAA-1111-1111-1111-111111111111_en-agent-rw"}, "aaaaaaaa-1111-1111-1111-111111111111", ""},
		{"two projects", []string{tenantA + "_en-agent-rw", tenantB + "_en-agent-rw"}, "", "Credentials from EN should belong to a single Project!"},
		{"no role", []string{tenantA + "_im-rw", "en-agent-rw"}, "", "no en-agent-rw role for any project"},
		{"non-UUID prefix ignored", []string{"admin_en-agent-rw", tenantB + "_en-agent-rw"}, tenantB, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.TenantFromRoles(tc.roles, auth.RoleENAgentRW)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, auth.ErrForbidden)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestTenantFor(t *testing.T) {
	twoProjects := verified(t, tenantA+"_en-agent-rw", tenantB+"_en-agent-rw")
	oneProject := verified(t, tenantA+"_en-agent-rw")
	tests := []struct {
		name    string
		claims  *auth.Claims
		active  string
		want    string
		wantErr string
	}{
		{"from roles", oneProject, "", tenantA, ""},
		{"header agrees", oneProject, tenantA, tenantA, ""},
		{"header selects among the token's projects", twoProjects, tenantB, tenantB, ""},
		{"header cannot widen the token", oneProject, tenantB, "", "grant no agent access to project " + tenantB},
		{"header not a UUID", oneProject, "tenant-a", "", "not a UUID"},
		{"ambiguous without header", twoProjects, "", "", "single Project"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.claims.TenantFor(context.Background(), tc.active)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, auth.ErrForbidden)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
