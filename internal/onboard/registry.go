package onboard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Credential is what Container Security assumes to pull from a registry.
type Credential struct {
	RoleARN    string
	ExternalID string
}

// Fingerprint is a short one-way digest of the credential: 8 hex digits
// (32 bits) of SHA-256 over the role ARN and the external ID. Container
// Security never returns a credential it stores, so the alias of an owned
// registration records the fingerprint of the credential written, and a
// later run compares fingerprints instead of credentials. 32 bits of a
// digest reveal nothing useful about a 128-bit external ID.
func (c Credential) Fingerprint() string {
	sum := sha256.Sum256([]byte("ecr-onboard credential v1\x00" + c.RoleARN + "\x00" + c.ExternalID))
	return hex.EncodeToString(sum[:4])
}

// Registry is one ECR registry registration in Container Security: one per
// AWS account and region. ID is Falcon's UUID (empty for one not yet created).
type Registry struct {
	ID         string
	URL        string // normalized, see NormalizeURL
	AccountID  string
	Region     string
	Alias      string // user_defined_alias
	Credential Credential
	// What Container Security says of an existing registration: its state
	// and whether it found the credential expired. Credential details are
	// write-only on the live API; Credential holds what a GET returned, if
	// anything (often nothing, sometimes masked).
	State   string
	Expired bool
	// StateChangedAt is when State last changed (state_changed_at); zero
	// when Falcon does not say.
	StateChangedAt time.Time
}

// newRegistry is the registration owner wants for an account's registry in
// a region, with credential c. There is none for a string that is not an
// account ID or a region name: no URL is ever built from one.
func newRegistry(accountID, region string, owner Owner, c Credential) (Registry, bool) {
	if !ValidAccountID(accountID) || !ValidRegion(region) {
		return Registry{}, false
	}
	return Registry{
		URL:        RegistryURL(accountID, region),
		AccountID:  accountID,
		Region:     region,
		Alias:      owner.Alias(accountID, region, c),
		Credential: c,
	}, true
}

// RegistryURL is the ECR registry URL of an account in a region.
func RegistryURL(accountID, region string) string {
	domain := "amazonaws.com"
	if Partition(region) == "aws-cn" {
		domain = "amazonaws.com.cn"
	}
	return fmt.Sprintf("https://%s.dkr.ecr.%s.%s", accountID, region, domain)
}

// ecrHosts are the hostnames under which AWS serves one private registry,
// {account} and {region} captured ("Amazon ECR endpoints and quotas",
// docs.aws.amazon.com/general/latest/gr/ecr.html, and "Making requests to
// Amazon ECR registries", the dual-stack endpoints): the IPv4 endpoint
// dkr.ecr (amazonaws.com.cn in the China regions), its FIPS form
// dkr.ecr-fips, and the dual-stack dkr-ecr and dkr-ecr-fips under on.aws.
var ecrHosts = []*regexp.Regexp{
	regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`),
	regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr-fips\.([a-z0-9-]+)\.amazonaws\.com()$`),
	regexp.MustCompile(`^([0-9]{12})\.dkr-ecr(?:-fips)?\.([a-z0-9-]+)\.on\.aws()$`),
}

// NormalizeURL brings a registry URL to the one form plans compare: its
// scheme (https:// unless it says http://), lower case, the host and port
// alone — no path, query, fragment or trailing slash. Registries stored as
// "HTTPS://123….AMAZONAWS.COM/", "123….amazonaws.com" and
// "https://123….amazonaws.com/v2/" are the same registry; "http://123…" is
// kept apart (see Insecure).
func NormalizeURL(raw string) string {
	u := strings.ToLower(strings.TrimSpace(raw))
	scheme := "https://"
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		u, scheme = rest, "http://"
	}
	u = strings.TrimPrefix(u, "https://")
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	return scheme + strings.TrimRightFunc(u, unicode.IsSpace)
}

// ParseECRURL returns the account and region of an ECR registry URL, under
// any hostname AWS serves the registry by (ecrHosts), with any scheme and
// path NormalizeURL accepts; ok is false for anything that is not ECR.
func ParseECRURL(raw string) (accountID, region string, ok bool) {
	n := NormalizeURL(raw)
	host := n[strings.Index(n, "://")+3:]
	for _, h := range ecrHosts {
		m := h.FindStringSubmatch(host)
		if m == nil || !ValidRegion(m[2]) || (m[3] != "") != (Partition(m[2]) == "aws-cn") {
			continue
		}
		return m[1], m[2], true
	}
	return "", "", false
}

// Insecure reports whether a registration is over http://. ECR serves only
// HTTPS, so Falcon cannot assess the registry through it: it does not
// cover its registry.
func (r Registry) Insecure() bool { return strings.HasPrefix(NormalizeURL(r.URL), "http://") }

// visible reports whether a credential value read back from Falcon says
// anything: absent and masked ("****") values are not evidence of drift.
// Neither role ARNs nor external IDs can contain '*'.
func visible(v string) bool { return v != "" && !strings.Contains(v, "*") }

// StateKind is what a registration's state means for the plan.
type StateKind string

const (
	// StateTransient: the service has not judged the registration yet (it
	// waits for its first assessment, or for its next after a credential
	// change). Unchanged: a later run sees the verdict.
	StateTransient StateKind = "transient"
	// StateChoice: a person's choice (paused). Never written, not even to
	// repair a drifted credential: a PATCH carries no state, and one might
	// resume it.
	StateChoice StateKind = "choice"
	// StateVerdict: the service says it cannot use the registration's
	// credential. An owned registration is re-asserted; someone else's is
	// reported with a hint (never written).
	StateVerdict StateKind = "verdict"
	// StateUnknown: a state this version does not know. Neither trusted
	// as healthy nor written: reported, so a person can look.
	StateUnknown StateKind = "unknown"
)

// registryStates is every registration state this version knows, and its
// meaning. CrowdStrike's public clients publish no list of them: gofalcon
// v0.22.0's DomainExternalAPIRegistry.State is a free string, the Terraform
// provider keeps it as a read-only "current state of the registry entity"
// that is "server-driven" and "transitions asynchronously" through the
// assessment lifecycle (internal/container_registry), and PSFalcon's
// Edit-FalconContainerRegistry sets it with the actions pause and resume
// (its -State ValidateSet). So: pending, where a registration starts and
// returns after a credential change; paused, what pause leaves; and the
// service's verdicts on a credential it cannot use (error, offline, failed,
// and the other words of that kind this README has always listed).
var registryStates = map[string]StateKind{
	"pending": StateTransient,
	"paused":  StateChoice,
	"error":   StateVerdict, "failed": StateVerdict, "offline": StateVerdict,
	"expired": StateVerdict, "invalid": StateVerdict, "unauthorized": StateVerdict, "denied": StateVerdict,
}

// StateOf is what a registration's state means for the plan (case and
// surrounding spaces aside). An empty state is the service saying nothing:
// transient.
func StateOf(state string) StateKind {
	s := strings.ToLower(strings.TrimSpace(state))
	if s == "" {
		return StateTransient
	}
	if k, ok := registryStates[s]; ok {
		return k
	}
	return StateUnknown
}

// Usable reports whether Falcon shows registration r usable for assessment:
// over https, not paused, and nothing reported against its credential
// (Trouble). A state this version does not know counts as usable (README,
// "Report"). This is the one rule of what covers a registry: coverage counts
// a registry present only when Falcon shows its registration so, whatever a
// run sent.
func (r Registry) Usable() bool {
	return !r.Insecure() && StateOf(r.State) != StateChoice && r.Trouble() == ""
}

// Trouble says what Container Security reports wrong with an existing
// registration's credential (an expired credential, or a state that is a
// verdict against it), or "" when it reports nothing.
func (r Registry) Trouble() string {
	switch {
	case r.Expired:
		return "Falcon reports the registration's credential expired"
	case StateOf(r.State) == StateVerdict:
		return fmt.Sprintf("Falcon reports the registration in state %q", r.State)
	}
	return ""
}

// verdict is the word Falcon's verdict on r is remembered by (Resend):
// "expired" for an expired credential, else its state in lower case.
func (r Registry) verdict() string {
	if r.Expired {
		return "expired"
	}
	return strings.ToLower(strings.TrimSpace(r.State))
}
