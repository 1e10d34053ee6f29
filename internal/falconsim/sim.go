package falconsim

import (
	"net/http"
	"sync"
	"time"
)

// Defaults applied by New for zero-valued Options fields.
const (
	DefaultClientID     = "falconsim-client-id"
	DefaultClientSecret = "falconsim-client-secret"
	DefaultRegion       = "us-1"
	DefaultTokenTTL     = 30 * time.Minute
)

// Options configures a Sim. Zero values select the live service's
// behaviour (README, "Reliability under faults") and the defaults above; a zero RateLimitPerMinute
// disables rate limiting and a zero Latency adds none.
type Options struct {
	ClientID, ClientSecret string
	// Region is returned in the X-Cs-Region header of token responses.
	Region string
	// TokenTTL is the lifetime of issued access tokens (expires_in).
	TokenTTL time.Duration
	// Latency is slept before handling every request (honouring the
	// request context).
	Latency time.Duration
	// RateLimitPerMinute is the size and per-minute refill of a single,
	// global token bucket shared by all callers. 0 means unlimited.
	RateLimitPerMinute int
	// RateLimitBurst is the bucket size (0: RateLimitPerMinute, a full
	// minute's quota).
	RateLimitBurst int

	// CreateStatus is the status of a successful registry create: 200, as
	// the live service answers (default), or 201, as the API spec says.
	CreateStatus int
	// PatchKeepsState: a PATCH that re-asserts a credential keeps the
	// registration's state. By default the simulator puts it back to
	// pending (the credential waits for its next assessment); what the live
	// service does is not public.
	PatchKeepsState bool
	// DuplicateCreateEmpty200 answers a create of a URL already registered
	// with 200 and an empty body instead of 409 (the spec's answer, and
	// the default): CrowdStrike's Terraform provider accepts an empty 200
	// from the create (internal/container_registry, its create reader).
	DuplicateCreateEmpty200 bool
	// Details is what registry GETs return of a stored credential: nothing
	// (the live service: credentials are write-only), the role only, the
	// role with a masked external ID, or everything.
	Details DetailsMode
	// RegistryPageMax and AccountPageMax silently cap the limit of the
	// registry and CSPM account queries (asked for more, they serve this
	// many). Defaults: 500 each.
	RegistryPageMax, AccountPageMax int
	// AssetPageMax silently caps the limit of the cloud asset inventory's
	// ID query (default 1,000, the live maximum).
	AssetPageMax int
	// LenientAccountQuery answers CSPM's account query without products
	// and features, as gofalcon v0.22.0's model (both optional) would
	// have it. By default the query refuses it (400), as CrowdStrike's
	// current API specification marks both required (falconpy's endpoint
	// table, src/falconpy/_endpoint/_cloud_aws_registration.py).
	LenientAccountQuery bool
	// VerdictSurvivesResend: a registration Falcon reports in a verdict
	// (error, failed, an expired credential, ...) stays so after a PATCH
	// whose credential Falcon accepts, as when the role lets Falcon in
	// but lacks ECR read access. By default the PATCH puts it back to
	// pending, like any (unless PatchKeepsState).
	VerdictSurvivesResend bool
	// KeepRejectedCreates: a create whose credential Falcon rejects is
	// still recorded, in state error with the alias sent, and answered
	// 400 as always.
	KeepRejectedCreates bool
	// GovCloud says the tenant is in a Falcon GovCloud; registries in AWS
	// GovCloud must then say aws_gov_using_commercial_connection=false
	// (true from a commercial Falcon cloud).
	GovCloud bool
}

// DetailsMode is what registry GETs return of credential details.
type DetailsMode int

const (
	DetailsNone   DetailsMode = iota // {} (the live service)
	DetailsRole                      // {"aws_iam_role": …}
	DetailsMasked                    // {"aws_iam_role": …, "aws_external_id": "****"}
	DetailsFull                      // {"aws_iam_role": …, "aws_external_id": …}
)

// Live-service page maxima of the query endpoints.
const (
	DefaultRegistryPageMax = 500
	DefaultAccountPageMax  = 500
)

// Sim is the simulated Falcon API. It implements http.Handler and is safe
// for concurrent use.
type Sim struct {
	opts Options

	mu       sync.Mutex
	secret   string               // the API client's secret (SetClientSecret)
	tokens   map[string]time.Time // access token -> expiry
	accounts map[string]*accountEntry
	roles    map[string]role
	// propagating counts the validations a role's trust policy still
	// fails while IAM propagates it (PropagateTrust).
	propagating map[string]int
	registries  []*regEntry // creation order
	assets      []Resource  // cloud asset inventory, in the order added
	faults      []*Fault
	stats       Stats
	bucket      *bucket
	seq         int64 // internal numeric IDs for account models
}

// New returns a simulator with no accounts, roles or registries.
func New(opts Options) *Sim {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.CreateStatus == 0 {
		opts.CreateStatus = http.StatusOK
	}
	if opts.RegistryPageMax <= 0 {
		opts.RegistryPageMax = DefaultRegistryPageMax
	}
	if opts.AccountPageMax <= 0 {
		opts.AccountPageMax = DefaultAccountPageMax
	}
	if opts.AssetPageMax <= 0 {
		opts.AssetPageMax = DefaultAssetPageMax
	}
	return &Sim{
		opts:        opts,
		secret:      opts.ClientSecret,
		tokens:      map[string]time.Time{},
		accounts:    map[string]*accountEntry{},
		roles:       map[string]role{},
		propagating: map[string]int{},
		bucket:      newBucket(opts.RateLimitPerMinute, opts.RateLimitBurst, time.Now()),
		stats:       Stats{ByOperation: map[string]int{}},
	}
}

// Options returns the effective options (defaults filled in, the client
// secret as last set).
func (s *Sim) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.opts
	o.ClientSecret = s.secret
	return o
}

// handlerFunc handles an authenticated (where required), rate-limited,
// fault-free request and returns the reply to encode.
type handlerFunc func(rc *reqCtx, r *http.Request) reply

// route maps method+path to a handler. known reports whether the path
// exists at all (for 405 vs 404).
func (s *Sim) route(method, path string) (h handlerFunc, known bool) {
	switch path {
	case pathToken:
		if method == http.MethodPost {
			return s.handleToken, true
		}
		return nil, true
	case pathQueryAccounts:
		if method == http.MethodGet {
			return s.handleQueryAccounts, true
		}
		return nil, true
	case pathAccountEntities:
		if method == http.MethodGet {
			return s.handleGetAccounts, true
		}
		return nil, true
	case pathQueryRegistries:
		if method == http.MethodGet {
			return s.handleQueryRegistries, true
		}
		return nil, true
	case pathQueryAssets:
		if method == http.MethodGet {
			return s.handleQueryAssets, true
		}
		return nil, true
	case pathAssetEntities:
		switch method {
		case http.MethodGet:
			return s.handleGetAssets, true
		case http.MethodPost:
			return s.handlePostAssets, true
		}
		return nil, true
	case pathRegistryEntities:
		switch method {
		case http.MethodGet:
			return s.handleGetRegistries, true
		case http.MethodPost:
			return s.handleCreateRegistry, true
		case http.MethodPatch:
			return s.handleUpdateRegistry, true
		case http.MethodDelete:
			return s.handleDeleteRegistries, true
		}
		return nil, true
	}
	return nil, false
}

// ServeHTTP runs the request pipeline: stats, latency, rate limit, routing,
// authentication, fault injection, handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := newReqCtx()
	op := r.Method + " " + r.URL.Path
	s.countRequest(op)

	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}

	rl := s.takeRateLimit()
	if !rl.allowed {
		s.mu.Lock()
		s.stats.RateLimited++
		s.mu.Unlock()
		rep := errReply(rc, http.StatusTooManyRequests, "API rate limit exceeded.")
		rep.setHeader(hdrRetryAfter, itoa(rl.retryAfter))
		s.write(w, rc, rep, rl)
		return
	}

	h, known := s.route(r.Method, r.URL.Path)
	if h == nil {
		if known {
			s.write(w, rc, errReply(rc, http.StatusMethodNotAllowed, "method not allowed"), rl)
		} else {
			s.write(w, rc, errReply(rc, http.StatusNotFound, "Not Found"), rl)
		}
		return
	}

	if r.URL.Path != pathToken && !s.authorized(r) {
		s.write(w, rc, errReply(rc, http.StatusUnauthorized, "access denied, invalid bearer token"), rl)
		return
	}

	f := s.takeFault(r.Method, r.URL.Path)
	if f != nil && !f.AfterWrite {
		s.write(w, rc, f.reply(rc), rl)
		return
	}
	if isRegistryWrite(r.Method, r.URL.Path) {
		s.mu.Lock()
		s.stats.writes++
		s.mu.Unlock()
	}
	rep := h(rc, r)
	if f != nil {
		rep = f.reply(rc)
	}
	s.write(w, rc, rep, rl)
}

func isRegistryWrite(method, path string) bool {
	if path != pathRegistryEntities {
		return false
	}
	return method == http.MethodPost || method == http.MethodPatch || method == http.MethodDelete
}
