package onboard

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Credential is what Container Security assumes to pull from a registry.
type Credential struct {
	RoleARN    string
	ExternalID string
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
}

// RegistryURL is the ECR registry URL of an account in a region.
func RegistryURL(accountID, region string) string {
	domain := "amazonaws.com"
	if Partition(region) == "aws-cn" {
		domain = "amazonaws.com.cn"
	}
	return fmt.Sprintf("https://%s.dkr.ecr.%s.%s", accountID, region, domain)
}

var ecrHostPattern = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// NormalizeURL brings a registry URL to the one form plans compare:
// https scheme, lower case, no trailing slash or path. Registries stored as
// "HTTPS://123….AMAZONAWS.COM/" and "123….amazonaws.com" are the same registry.
func NormalizeURL(raw string) string {
	u := strings.ToLower(strings.TrimSpace(raw))
	u = strings.TrimPrefix(u, "https://")
	u = strings.TrimPrefix(u, "http://")
	u = strings.TrimRightFunc(u, func(r rune) bool { return r == '/' || unicode.IsSpace(r) })
	return "https://" + u
}

// ParseECRURL returns the account and region of an ECR registry URL, in any
// form NormalizeURL accepts; ok is false for anything that is not ECR.
func ParseECRURL(raw string) (accountID, region string, ok bool) {
	m := ecrHostPattern.FindStringSubmatch(strings.TrimPrefix(NormalizeURL(raw), "https://"))
	if m == nil || !ValidRegion(m[2]) || (m[3] != "") != (Partition(m[2]) == "aws-cn") {
		return "", "", false
	}
	return m[1], m[2], true
}

// AliasFor is the user_defined_alias this tool gives the registry of an
// account and region. It marks ownership: only registries whose alias is
// exactly this are ever deleted.
func AliasFor(prefix, accountID, region string) string {
	return prefix + "-" + accountID + "-" + region
}

// Owned reports whether this tool (with that alias prefix) created r.
func (r Registry) Owned(prefix string) bool {
	return r.AccountID != "" && r.Alias == AliasFor(prefix, r.AccountID, r.Region)
}
