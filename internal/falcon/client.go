package falcon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/client/cloud_aws_registration"
	"github.com/crowdstrike/gofalcon/falcon/client/cloud_security_assets"
	"github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Config says how to reach and authenticate to the Falcon API.
type Config struct {
	// Credentials, when set, supply the client ID and secret (and read
	// them again when Falcon refuses them); else ClientID and ClientSecret.
	Credentials  Credentials
	ClientID     string
	ClientSecret string
	MemberCID    string // child CID for MSSP parent credentials
	Cloud        string // autodiscover, us-1, us-2, eu-1, us-gov-1, us-gov-2
	BaseURL      string // https://host[:port]; wins over Cloud
	// HTTPClient is the base client (TLS, proxy); nil means http.DefaultClient.
	HTTPClient *http.Client
	// Concurrency bounds parallel page and batch reads.
	Concurrency int
	// RateShare is the share of the tenant's API rate limit the client may
	// use (0 < share <= 1; see pacer); 0 means 1.
	RateShare float64
}

// Client implements onboard.Falcon.
type Client struct {
	cspm        cloud_aws_registration.ClientService
	registries  falcon_container_image.ClientService
	assets      cloud_security_assets.ClientService // REGION_SOURCE=ecr-inventory only
	transport   *transport
	keys        *keyring
	concurrency int
	host        string
	// govFalcon: the tenant is in a Falcon GovCloud (us-gov-1, us-gov-2).
	// A registry in AWS GovCloud says whether it is reached from a
	// commercial Falcon cloud (see details).
	govFalcon bool
}

// New resolves the API host (autodiscovering the cloud when asked) and
// returns a client whose token is fetched on first use and refreshed before
// it expires.
func New(ctx context.Context, cfg Config) (*Client, error) {
	creds := cfg.Credentials
	if creds == nil {
		creds = static{cfg.ClientID, cfg.ClientSecret}
	}
	if cfg.ClientID, cfg.ClientSecret = creds.Current(); cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("falcon: client ID and client secret are required")
	}
	keys := newKeyring(creds)
	base := cfg.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	t := newTransport(base.Transport, cfg.RateShare)
	plain := &http.Client{Transport: t, Timeout: 2 * time.Minute}

	host := ""
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("falcon: base URL %q is not https://host[:port]", cfg.BaseURL)
		}
		host = u.Host
	} else {
		var err error
		if host, err = resolveHost(ctx, cfg, plain); err != nil {
			return nil, err
		}
	}

	newSource := func(clientID, clientSecret string) oauth2.TokenSource {
		cc := clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			TokenURL:     "https://" + host + "/oauth2/token",
			AuthStyle:    oauth2.AuthStyleInParams,
		}
		if cfg.MemberCID != "" {
			cc.EndpointParams = url.Values{"member_cid": {cfg.MemberCID}}
		}
		return cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, plain))
	}
	authed := &http.Client{
		Transport: &tokenTransport{next: t, keys: keys, newSource: newSource},
		Timeout:   2 * time.Minute,
	}
	rt := httptransport.NewWithClient(host, "/", []string{"https"}, authed)
	return &Client{
		cspm:        cloud_aws_registration.New(rt, strfmt.Default),
		registries:  falcon_container_image.New(rt, strfmt.Default),
		assets:      cloud_security_assets.New(rt, strfmt.Default),
		transport:   t,
		keys:        keys,
		concurrency: max(cfg.Concurrency, 1),
		host:        host,
		govFalcon:   isGovCloud(cfg.Cloud, host),
	}, nil
}

// Host is the API host the client talks to.
func (c *Client) Host() string { return c.host }

// APICalls implements onboard.Falcon.
func (c *Client) APICalls() int64 { return c.transport.calls.Load() }

// RateLimited is the number of 429 answers received (all were waited out
// and retried, up to the retry limit).
func (c *Client) RateLimited() int64 { return c.transport.rateLimited.Load() }

// StartRun prepares the client for a run (onboard.Runner.StartRun): the
// credential is read again when older than its bound, a refusal in this run
// may read it again once, and those reads are logged to log.
func (c *Client) StartRun(ctx context.Context, log *slog.Logger) { c.keys.startRun(ctx, log) }

// tokenTransport adds the bearer token. The token source refreshes before
// expiry; a 401 (token revoked or expired early) gets one fresh token and
// one retry. When Falcon refuses the credential itself (401/403 from the
// token endpoint, or a 401 to a token just issued), the keyring reads it
// again, and the request is retried once with a new one.
type tokenTransport struct {
	next      http.RoundTripper
	keys      *keyring
	newSource func(clientID, clientSecret string) oauth2.TokenSource
	mu        sync.Mutex
	source    oauth2.TokenSource
	gen       uint64 // of the credential source was built with
}

// tokenSource returns the token source of the newest credential and that
// credential's generation; renew builds a new one (a fresh token).
func (t *tokenTransport) tokenSource(renew bool) (oauth2.TokenSource, uint64) {
	gen, id, secret := t.keys.current()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.source == nil || gen > t.gen || (renew && gen == t.gen) {
		t.source, t.gen = t.newSource(id, secret), gen
	}
	return t.source, t.gen
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := rewindable(req); err != nil {
		return nil, err
	}
	ctx := req.Context()
	renew, renewed, rekeyed := false, false, false
	for {
		src, gen := t.tokenSource(renew)
		tok, err := tokenWithin(ctx, src)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			hint := ""
			if refusal(err) {
				var retry bool
				if retry, hint = t.keys.refused(ctx, gen); retry && !rekeyed {
					renew, renewed, rekeyed = false, true, true
					continue
				}
			}
			return nil, tokenError(err, hint)
		}
		try := req.Clone(ctx)
		if req.GetBody != nil {
			try.Body, _ = req.GetBody()
		}
		tok.SetAuthHeader(try)
		resp, err := t.next.RoundTrip(try)
		if err != nil || resp.StatusCode != http.StatusUnauthorized || rekeyed {
			return resp, err
		}
		if !renewed {
			resp.Body.Close()
			renew, renewed = true, true
			continue
		}
		// A 401 to a token just issued: the credential is refused.
		retry, hint := t.keys.refused(ctx, gen)
		if retry {
			resp.Body.Close()
			renew, rekeyed = false, true
			continue
		}
		if hint == "" {
			return resp, nil
		}
		resp.Body.Close()
		return nil, fmt.Errorf("%w: the Falcon API answered 401 to a token just issued (%s; %s)", errToken, credentialHint, hint)
	}
}

// tokenError is a failed token request (the token source's, or
// autodiscovery's), with the keyring's hint if any. A request that never
// reached Falcon is its *ConnectionError: nothing is known about the
// credential then. An answer refusing the request (400, 401, 403) points at
// the credential.
func tokenError(err error, hint string) error {
	var ce *ConnectionError
	if errors.As(err, &ce) {
		return ce
	}
	code, detail := tokenAnswer(err)
	switch {
	case code == http.StatusBadRequest || code == http.StatusUnauthorized || code == http.StatusForbidden:
		hint = strings.TrimSuffix(credentialHint+"; "+hint, "; ")
	case hint == "":
		return fmt.Errorf("%w: %w", errToken, detail)
	}
	return fmt.Errorf("%w: %w (%s)", errToken, detail, hint)
}

// tokenWithin waits for a token no longer than ctx: the source outlives
// requests (it is shared and bound to no request), so its fetch is not
// cancelled by a run's deadline on its own.
func tokenWithin(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		ch <- result{tok, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		return r.tok, r.err
	}
}

// errToken marks a token request Falcon answered with an error.
var errToken = errors.New("getting a Falcon API token failed")

// answerText is what an error answer says: the messages of a Falcon error
// body ({"errors":[{"message"}]}), else the body itself, at most 300 bytes.
func answerText(body []byte) string {
	var answer struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	var msgs []string
	if json.Unmarshal(body, &answer) == nil {
		for _, e := range answer.Errors {
			if e.Message != "" {
				msgs = append(msgs, e.Message)
			}
		}
	}
	if len(msgs) > 0 {
		return strings.Join(msgs, "; ")
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 300 {
		text = text[:300] + "..."
	}
	return text
}

// credentialHint is what a refused token request points at.
const credentialHint = "check the client ID/secret, FALCON_MEMBER_CID if set, and FALCON_CLOUD"

// tokenAnswer is the status of a failed token request's answer (0: none)
// and what it said, without the request, which for client credentials
// carries the secret in the body (oauth2 errors include only the response;
// this is belt and braces). Autodiscovery's errors are gofalcon's.
func tokenAnswer(err error) (int, error) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode, fmt.Errorf("token endpoint answered %d: %s", re.Response.StatusCode, answerText(re.Body))
	}
	if code := statusOf(err); code != 0 {
		return code, errors.New("token endpoint answered " + statusText(err))
	}
	return 0, err
}
