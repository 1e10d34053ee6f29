package falcon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"golang.org/x/oauth2"
)

// Credentials supplies the API client ID and secret and can read them again
// (internal/credentials.Source: a Secrets Manager secret, or the
// environment). Implementations never print the secret.
type Credentials interface {
	// Current returns the client ID and secret to use now.
	Current() (clientID, clientSecret string)
	// Refresh reads them again and reports whether they changed; ones that
	// cannot be read again return false without reading.
	Refresh(ctx context.Context) (changed bool, err error)
	// Stale reports whether they were read longer ago than their bound.
	Stale() bool
	// Where names where they are read from (a secret's ARN), "" when they
	// cannot be read again.
	Where() string
}

// static are credentials given as values (Config.ClientID, ClientSecret).
type static struct{ id, secret string }

func (s static) Current() (string, string)           { return s.id, s.secret }
func (static) Refresh(context.Context) (bool, error) { return false, nil }
func (static) Stale() bool                           { return false }
func (static) Where() string                         { return "" }

// keyring is the credential the client authenticates with. A secret that
// rotates (the old one reset in Falcon, the new one put in Secrets Manager)
// is picked up without a new process: when Falcon refuses the credential,
// the keyring reads it again — at most once per run, however many requests
// were refused at the same moment — and tells them to retry when it
// changed. A credential read longer ago than its bound is read again at the
// start of a run. Each read is logged as an event, never with its content.
//
// Its per-run part (the run's logger, whether the credential was read in
// this run) is reset by startRun; runs of one process do not overlap (one
// Lambda invocation at a time, one CLI run). Without startRun a credential
// is read again at most once in the client's life.
type keyring struct {
	creds Credentials

	readMu sync.Mutex // one read at a time; who waited sees its outcome

	mu         sync.Mutex
	gen        uint64 // bumped whenever the credential held changes
	id, secret string
	read       bool  // read (or tried) in this run: a refusal is final
	readErr    error // why that read failed
	log        *slog.Logger
}

func newKeyring(creds Credentials) *keyring {
	k := &keyring{creds: creds, log: slog.Default()}
	k.current()
	return k
}

// current returns the credential to use and its generation.
func (k *keyring) current() (gen uint64, id, secret string) {
	id, secret = k.creds.Current()
	k.mu.Lock()
	defer k.mu.Unlock()
	if id != k.id || secret != k.secret {
		k.gen++
		k.id, k.secret = id, secret
	}
	return k.gen, id, secret
}

// startRun begins a run: its log lines go to log, a refusal may read the
// credential once more, and a stale one is read now.
func (k *keyring) startRun(ctx context.Context, log *slog.Logger) {
	k.readMu.Lock()
	defer k.readMu.Unlock()
	k.mu.Lock()
	k.log, k.read, k.readErr = log, false, nil
	k.mu.Unlock()
	if k.creds.Stale() {
		k.reread(ctx, "stale")
	}
}

// refused is called when Falcon refused the credential of generation gen.
// retry: a different credential is in place now (read by this call or by a
// request refused at the same moment). Otherwise hint says, for the fatal
// error, that the secret was read again (or could not be) and by its ARN.
func (k *keyring) refused(ctx context.Context, gen uint64) (retry bool, hint string) {
	k.readMu.Lock()
	defer k.readMu.Unlock()
	if g, _, _ := k.current(); g != gen {
		return true, ""
	}
	where := k.creds.Where()
	if where == "" {
		return false, ""
	}
	k.mu.Lock()
	read := k.read
	k.mu.Unlock()
	if !read {
		k.reread(ctx, "refused")
		if g, _, _ := k.current(); g != gen {
			return true, ""
		}
	}
	k.mu.Lock()
	readErr := k.readErr
	k.mu.Unlock()
	if readErr != nil {
		return false, fmt.Sprintf("reading FALCON_SECRET_ARN %s again after the refusal failed: %v", where, readErr)
	}
	return false, fmt.Sprintf("FALCON_SECRET_ARN %s was re-read and Falcon refuses the client ID and secret it holds "+
		"(if the API client's secret was reset in Falcon, store the new one there with put-secret-value: "+
		"see \"Rotating the Falcon API secret\" in the README)", where)
}

// reread reads the credential again and logs that it did (the caller
// holds readMu).
func (k *keyring) reread(ctx context.Context, reason string) {
	changed, err := k.creds.Refresh(ctx)
	k.mu.Lock()
	k.read, k.readErr = true, err
	log := k.log
	k.mu.Unlock()
	if err != nil {
		log.Warn("Falcon API secret could not be re-read; keeping the one held", "secret", k.creds.Where(), "reason", reason, "error", err.Error())
		return
	}
	log.Info("Falcon API secret re-read", "secret", k.creds.Where(), "reason", reason, "changed", changed)
}

// refusal reports whether a token request failed because the token
// endpoint refused the client (401 or 403).
func refusal(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.Response != nil &&
		(re.Response.StatusCode == http.StatusUnauthorized || re.Response.StatusCode == http.StatusForbidden)
}
