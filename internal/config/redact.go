package config

import (
	"net/url"
	"regexp"
	"strings"
)

const redactedMark = "xxxxx"

// Redacted renders the configuration as `flag=value` pairs for the start-up log. Secrets never appear: the
// environment-only secrets show only whether they are set, the database URL has its password masked.
func (c *Config) Redacted() string {
	var view Config
	r := newFlagSet(&view)
	// The flag values point into view; copying after registration makes them report c's values.
	view = *c
	r.logLevel = c.LogLevel.String()

	parts := make([]string, 0, len(r.order)+len(envOnly))
	for _, name := range r.order {
		v := r.fs.Lookup(name).Value.String()
		if name == "databaseURL" {
			v = redactDSN(v)
		}
		parts = append(parts, name+"="+v)
	}
	for _, e := range envOnly {
		state := "unset"
		if *e.field(c) != "" {
			state = "set"
		}
		parts = append(parts, e.env+"="+state)
	}
	return strings.Join(parts, " ")
}

var kvPassword = regexp.MustCompile(`((?:^|\s)(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// redactDSN masks passwords in a Postgres URL or key=value connection string.
func redactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return redactedMark
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redactedMark)
		}
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, redactedMark)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}"+redactedMark)
}
