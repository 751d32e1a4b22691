package creds

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFor(t *testing.T) {
	const guid = "4c4c4544-004b-4210-8033-b6c04f504633"
	a := For("seed", guid)
	require.Equal(t, a, For("seed", "4C4C4544-004B-4210-8033-B6C04F504633"), "GUID case must not matter")
	require.NotEqual(t, a, For("other", guid))
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}$`), a.CIRAUser)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{16}$`), a.CIRAPassword)
	require.Len(t, a.AMTPassword, 16)
	require.Regexp(t, regexp.MustCompile(`[A-Z]`), a.AMTPassword)
	require.Regexp(t, regexp.MustCompile(`[a-z]`), a.AMTPassword)
	require.Regexp(t, regexp.MustCompile(`[0-9]`), a.AMTPassword)
	require.Regexp(t, regexp.MustCompile(`[^A-Za-z0-9]`), a.AMTPassword)
}

func TestMatch(t *testing.T) {
	const guid = "4c4c4544-004b-4210-8033-b6c04f504633"
	c := For("seed", guid)
	for _, tc := range []struct {
		name, user, pass string
		want             bool
	}{
		{"right", c.CIRAUser, c.CIRAPassword, true},
		{"wrong password", c.CIRAUser, c.CIRAPassword[:15] + "x", false},
		{"wrong user", "00000000", c.CIRAPassword, false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Match("seed", guid, tc.user, tc.pass))
		})
	}
}
