package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"
)

// Token lifecycle. EMF's Vault issues Kubernetes-auth tokens with TTL = max TTL = 1h (emf-conventions §5): renewal
// cannot extend them, so a long-running client must log in again before the hour ends. The keeper acts at 2/3 of
// each token's TTL: it renews a renewable token, and logs in again when the token is not renewable, renewal failed,
// or Vault capped the renewal below the TTL asked for (the max TTL is near). A static VAULT_TOKEN cannot log in
// again; the keeper renews it while it can and warns when it no longer can.
const (
	refreshFraction   = 2.0 / 3
	backgroundTimeout = 30 * time.Second // bound on one background renew/login call
	maxRetryDelay     = 30 * time.Second
	authApproleMount  = "approle"
	authK8sMount      = "kubernetes"
)

// loginFunc performs one login with the token-less client and returns Vault's response.
type loginFunc func(ctx context.Context, c *api.Client) (*api.Secret, error)

type tokenKeeper struct {
	client *api.Client // data client; the keeper owns its token
	loginc *api.Client // token-less clone used only for logins
	login  loginFunc   // nil for -vaultAuth token
	method string
	log    zerolog.Logger

	mu        sync.Mutex // serialises logins and renewals; guards the fields below
	increment time.Duration
	renewable bool
	next      time.Time // next refresh; zero when there is nothing to do
	failures  int

	gen  atomic.Uint64 // bumped for every new token
	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

func startTokenKeeper(ctx context.Context, client *api.Client, o Options, log zerolog.Logger) (*tokenKeeper, error) {
	k := &tokenKeeper{client: client, method: o.VaultAuth, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	var err error
	switch o.VaultAuth {
	case AuthToken:
		err = k.adoptStaticToken(ctx, o.VaultToken)
	default:
		if k.loginc, err = client.Clone(); err != nil {
			return nil, fmt.Errorf("secrets: vault client: %w", err)
		}
		k.loginc.ClearToken()
		k.login = loginFor(o)
		k.mu.Lock()
		err = k.loginLocked(ctx, "start")
		k.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	k.stop = cancel
	go k.run(runCtx)
	return k, nil
}

func loginFor(o Options) loginFunc {
	if o.VaultAuth == AuthAppRole {
		return func(ctx context.Context, c *api.Client) (*api.Secret, error) {
			return c.Logical().WriteWithContext(ctx, "auth/"+authApproleMount+"/login",
				map[string]any{"role_id": o.VaultRoleID, "secret_id": o.VaultSecretID})
		}
	}
	return func(ctx context.Context, c *api.Client) (*api.Secret, error) {
		// Re-read at every login: the kubelet rotates projected service-account tokens.
		jwt, err := os.ReadFile(o.VaultK8sTokenPath)
		if err != nil {
			return nil, fmt.Errorf("read -vaultK8sTokenPath: %w", err)
		}
		return c.Logical().WriteWithContext(ctx, "auth/"+authK8sMount+"/login",
			map[string]any{"role": o.VaultRole, "jwt": strings.TrimSpace(string(jwt))})
	}
}

// adoptStaticToken checks VAULT_TOKEN with lookup-self and learns its remaining TTL and renewability.
func (k *tokenKeeper) adoptStaticToken(ctx context.Context, token string) error {
	k.client.SetToken(token)
	s, err := k.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		if isPermissionDenied(err) {
			return errors.New("secrets: VAULT_TOKEN was rejected (permission denied): it is expired, revoked or mistyped")
		}
		return fmt.Errorf("secrets: vault token lookup: %w", err)
	}
	ttl, err := s.TokenTTL()
	if err != nil {
		return fmt.Errorf("secrets: vault token lookup: %w", err)
	}
	renewable, _ := s.TokenIsRenewable()
	var creation int64
	if n, ok := s.Data["creation_ttl"].(json.Number); ok {
		creation, _ = n.Int64()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.newLease(ttl, renewable, time.Duration(creation)*time.Second)
	if ttl > 0 && !renewable {
		k.next = time.Time{}
		k.log.Warn().Time("expires", time.Now().Add(ttl)).
			Msg("VAULT_TOKEN is not renewable; secrets calls will fail once it expires; use -vaultAuth approle or kubernetes")
	}
	k.log.Info().Str("vault_auth", k.method).Dur("ttl", ttl).Bool("renewable", renewable).Msg("vault token accepted")
	return nil
}

// newLease records a fresh token lifetime and schedules its refresh. Callers hold mu.
func (k *tokenKeeper) newLease(ttl time.Duration, renewable bool, increment time.Duration) {
	if increment <= 0 {
		increment = ttl
	}
	k.increment, k.renewable, k.failures = increment, renewable, 0
	k.next = time.Time{}
	if ttl > 0 { // 0: the token never expires (root tokens)
		k.next = time.Now().Add(time.Duration(float64(ttl) * refreshFraction))
	}
}

// loginLocked logs in and installs the new token. Callers hold mu.
func (k *tokenKeeper) loginLocked(ctx context.Context, reason string) error {
	s, err := k.login(ctx, k.loginc)
	if err != nil {
		return fmt.Errorf("secrets: vault %s login: %w", k.method, loginError(err))
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return fmt.Errorf("secrets: vault %s login: response carries no token", k.method)
	}
	k.client.SetToken(s.Auth.ClientToken)
	ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
	k.newLease(ttl, s.Auth.Renewable, ttl)
	k.gen.Add(1)
	k.log.Info().Str("vault_auth", k.method).Str("reason", reason).Dur("ttl", ttl).Bool("renewable", s.Auth.Renewable).
		Msg("vault login")
	return nil
}

// loginError keeps the status and Vault's error text but drops the request (which carried the credentials).
func loginError(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("HTTP %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return err
}

func (k *tokenKeeper) generation() uint64 { return k.gen.Load() }
func (k *tokenKeeper) canLogin() bool     { return k.login != nil }

// reloginAfterDenied logs in again after a 403 unless another caller already replaced the token the failed call
// used (generation gen); loggedIn tells which happened.
func (k *tokenKeeper) reloginAfterDenied(ctx context.Context, gen uint64) (loggedIn bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gen.Load() != gen {
		return false, nil
	}
	if err := k.loginLocked(ctx, "permission denied"); err != nil {
		return false, err
	}
	select {
	case k.wake <- struct{}{}: // reschedule the keeper for the new token
	default:
	}
	return true, nil
}

func (k *tokenKeeper) run(ctx context.Context) {
	defer close(k.done)
	for {
		k.mu.Lock()
		next := k.next
		k.mu.Unlock()
		var due <-chan time.Time
		var timer *time.Timer
		if !next.IsZero() {
			timer = time.NewTimer(time.Until(next))
			due = timer.C
		}
		fire := false
		select {
		case <-ctx.Done():
		case <-k.wake:
		case <-due:
			fire = true
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if fire {
			k.refresh(ctx)
		}
	}
}

// refresh renews or replaces the token at 2/3 of its TTL.
func (k *tokenKeeper) refresh(runCtx context.Context) {
	ctx, cancel := context.WithTimeout(runCtx, backgroundTimeout)
	defer cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	var renewErr error
	if k.renewable {
		extended, remaining, err := k.renewLocked(ctx)
		switch {
		case runCtx.Err() != nil:
			return // closing
		case err == nil && extended:
			return
		case err != nil && k.login == nil && isPermissionDenied(err):
			k.next = time.Time{}
			k.log.Warn().Msg("VAULT_TOKEN was rejected on renewal (expired or revoked); secrets calls will fail; provide a new token")
			return
		case err != nil:
			renewErr = err
			k.log.Warn().Str("vault_auth", k.method).Err(loginError(err)).Msg("vault token renewal failed")
		case k.login == nil:
			k.next = time.Time{}
			k.log.Warn().Time("expires", time.Now().Add(remaining)).
				Msg("VAULT_TOKEN reached its max TTL; secrets calls will fail once it expires; provide a new token")
			return
		default:
			k.log.Info().Str("vault_auth", k.method).Dur("remaining", remaining).
				Msg("vault token renewal capped by its max TTL; logging in again")
		}
	}
	if k.login == nil {
		k.retryLater(renewErr)
		return
	}
	if err := k.loginLocked(ctx, "token near expiry"); err != nil && runCtx.Err() == nil {
		k.retryLater(err)
	}
}

// renewLocked asks for another full increment; extended is false when Vault capped the TTL (max TTL near).
func (k *tokenKeeper) renewLocked(ctx context.Context) (extended bool, remaining time.Duration, err error) {
	s, err := k.client.Auth().Token().RenewSelfWithContext(ctx, int(k.increment/time.Second))
	if err != nil {
		return false, 0, err
	}
	if s == nil || s.Auth == nil {
		return false, 0, errors.New("renew-self response carries no auth block")
	}
	ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
	if ttl < k.increment {
		return false, ttl, nil
	}
	k.newLease(ttl, s.Auth.Renewable, k.increment)
	k.log.Debug().Str("vault_auth", k.method).Dur("ttl", ttl).Msg("vault token renewed")
	return true, ttl, nil
}

// retryLater schedules another attempt with exponential back-off (1s, 2s, 4s ... 30s). Callers hold mu.
func (k *tokenKeeper) retryLater(err error) {
	k.failures++
	delay := min(maxRetryDelay, time.Second<<min(k.failures-1, 5))
	k.next = time.Now().Add(delay)
	k.log.Warn().Str("vault_auth", k.method).Err(loginError(err)).Int("attempt", k.failures).Dur("retry_in", delay).
		Msg("vault token refresh failed; will retry")
}

func (k *tokenKeeper) close() {
	k.stop()
	<-k.done
}
