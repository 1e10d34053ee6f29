package falcon

import (
	"context"
	"errors"
	"fmt"
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
	ClientID     string
	ClientSecret string
	MemberCID    string // child CID for MSSP parent credentials
	Cloud        string // autodiscover, us-1, us-2, eu-1, us-gov-1, us-gov-2
	BaseURL      string // https://host[:port]; wins over Cloud
	// HTTPClient is the base client (TLS, proxy); nil means http.DefaultClient.
	HTTPClient *http.Client
	// Concurrency bounds parallel page and batch reads.
	Concurrency int
}

// Client implements onboard.Falcon.
type Client struct {
	cspm        cloud_aws_registration.ClientService
	registries  falcon_container_image.ClientService
	assets      cloud_security_assets.ClientService // REGION_SOURCE=ecr-inventory only
	transport   *transport
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
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("falcon: client ID and client secret are required")
	}
	base := cfg.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	t := newTransport(base.Transport)
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

	cc := clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     "https://" + host + "/oauth2/token",
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	if cfg.MemberCID != "" {
		cc.EndpointParams = url.Values{"member_cid": {cfg.MemberCID}}
	}
	authed := &http.Client{
		Transport: &tokenTransport{next: t, newSource: func() oauth2.TokenSource {
			return cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, plain))
		}},
		Timeout: 2 * time.Minute,
	}
	rt := httptransport.NewWithClient(host, "/", []string{"https"}, authed)
	return &Client{
		cspm:        cloud_aws_registration.New(rt, strfmt.Default),
		registries:  falcon_container_image.New(rt, strfmt.Default),
		assets:      cloud_security_assets.New(rt, strfmt.Default),
		transport:   t,
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

// tokenTransport adds the bearer token. The token source refreshes before
// expiry; a 401 (token revoked or expired early) gets one fresh token and
// one retry.
type tokenTransport struct {
	next      http.RoundTripper
	newSource func() oauth2.TokenSource
	mu        sync.Mutex
	source    oauth2.TokenSource
}

func (t *tokenTransport) tokenSource(renew bool) oauth2.TokenSource {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.source == nil || renew {
		t.source = t.newSource()
	}
	return t.source
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := rewindable(req); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		tok, err := tokenWithin(req.Context(), t.tokenSource(attempt > 0))
		if err != nil {
			if ctxErr := req.Context().Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("%w: %w", errToken, scrub(err))
		}
		try := req.Clone(req.Context())
		if req.GetBody != nil {
			try.Body, _ = req.GetBody()
		}
		tok.SetAuthHeader(try)
		resp, err := t.next.RoundTrip(try)
		if err != nil || resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, err
		}
		resp.Body.Close()
	}
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

var errToken = errors.New("getting a Falcon API token failed (check the client ID/secret and FALCON_CLOUD)")

// scrub keeps the token endpoint's answer but not the request, which for
// client credentials carries the secret in the body (oauth2 errors include
// only the response; this is belt and braces).
func scrub(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("token endpoint answered %d: %s", re.Response.StatusCode, strings.TrimSpace(string(re.Body)))
	}
	return err
}
