package onboard

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Owner is the mark this tool leaves on the registrations it creates: the
// alias prefix. Owned registrations are the only ones it ever updates or
// deletes; every other registration, whoever made it, is left alone.
//
// The alias of an owned registration is {prefix}-{account}-{region}-{fp},
// fp the Fingerprint of the credential last written. Registrations made by
// versions before the fingerprint ({prefix}-{account}-{region}) are owned
// too; the next run re-asserts their credential, which adds it.
type Owner string

// The alias's bound. No public client of CrowdStrike's states a bound for
// user_defined_alias (gofalcon v0.22.0's RegistryassessmentExternalRegistryPayload
// has none, nor do the Terraform provider and PSFalcon); the one bound
// CrowdStrike's published API models put on the name of a Falcon Cloud
// Security object is 100 characters (gofalcon v0.22.0,
// models.AssetgroupmanagerV1CreateCloudGroupRequest.Name), so an alias is
// kept within it. {prefix}-{12 digits}-{region}-{8 hex digits}, with any
// region name up to MaxRegionNameLength characters (the longest AWS region
// names today have 15), leaves MaxAliasPrefixLength for the prefix.
const (
	MaxAliasLength       = 100
	MaxRegionNameLength  = 17
	MaxAliasPrefixLength = MaxAliasLength - len("-123456789012-") - MaxRegionNameLength - len("-0123abcd")
)

// Alias is the user_defined_alias of an owned registration of account and
// region holding credential c.
func (o Owner) Alias(accountID, region string, c Credential) string {
	return o.base(accountID, region) + "-" + c.Fingerprint()
}

func (o Owner) base(accountID, region string) string {
	return string(o) + "-" + accountID + "-" + region
}

// Owns reports whether o made r: r's alias is o's, for r's own account and
// region (as its URL says), in either form.
func (o Owner) Owns(r Registry) bool {
	_, owned := o.recorded(r)
	return owned
}

// recorded returns the fingerprint r's alias records ("" for the form
// without one) and whether o owns r at all.
func (o Owner) recorded(r Registry) (fingerprint string, owned bool) {
	if o == "" || r.AccountID == "" || r.Region == "" {
		return "", false
	}
	rest, ok := strings.CutPrefix(r.Alias, o.base(r.AccountID, r.Region))
	switch {
	case !ok:
		return "", false
	case rest == "":
		return "", true
	case len(rest) == 9 && rest[0] == '-' && isLowerHex(rest[1:]):
		return rest[1:], true
	}
	return "", false
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// OtherPrefix returns the prefix of r's alias when it is this tool's
// fingerprinted form, {prefix}-{account}-{region}-{fp} for r's own account
// and region, under a prefix that is not o's: a registration a change of
// ALIAS_PREFIX orphaned (or another stack's). The form without a
// fingerprint is not recognised: {x}-{account}-{region} is a name anyone
// might give.
func (o Owner) OtherPrefix(r Registry) (prefix string, ok bool) {
	if r.AccountID == "" || r.Region == "" || len(r.Alias) < 9 {
		return "", false
	}
	head, fp := r.Alias[:len(r.Alias)-9], r.Alias[len(r.Alias)-9:]
	if fp[0] != '-' || !isLowerHex(fp[1:]) {
		return "", false
	}
	prefix, ok = strings.CutSuffix(head, "-"+r.AccountID+"-"+r.Region)
	if !ok || prefix == "" || Owner(prefix) == o || !validPrefix(prefix) {
		return "", false
	}
	return prefix, true
}

// validPrefix reports whether s could be an ALIAS_PREFIX (CheckAliasPrefix).
func validPrefix(s string) bool { return CheckAliasPrefix(s) == nil }

// CheckAliasPrefix is the rule for an alias prefix (ALIAS_PREFIX): 1 to
// MaxAliasPrefixLength characters, letters, digits, '.', '-' or '_',
// starting with a letter or digit. Its error says each way s breaks it:
// how long it is, which character is not allowed, what it starts with.
func CheckAliasPrefix(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	var problems []string
	if first, _ := utf8.DecodeRuneInString(s); !isAlnum(first) {
		problems = append(problems, fmt.Sprintf("starts with %q: the first character must be a letter or a digit", first))
	}
	for i, c := range s {
		if i > 0 && !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			problems = append(problems, fmt.Sprintf("has %q (character %d): only letters, digits, '.', '-' and '_' are allowed", c, utf8.RuneCountInString(s[:i])+1))
			break
		}
	}
	if n := utf8.RuneCountInString(s); n > MaxAliasPrefixLength {
		problems = append(problems, fmt.Sprintf("is %d characters long, more than %d: the alias {prefix}-{account}-{region}-{fingerprint} must fit in %d",
			n, MaxAliasPrefixLength, MaxAliasLength))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func isAlnum(c rune) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// StackPrefix is the alias prefix of a stack that leaves AliasPrefix empty:
// "ecr-onboard-" and the stack's unique ID, the last part of its stack ID
// (arn:...:stack/NAME/UUID; AWS::StackId). Stack names repeat across
// accounts and regions, and two stacks onboarding into one Falcon tenant
// under one prefix would own, repair, prune and disconnect each other's
// registrations; the ID is unique to the stack. ok is false when stackID
// has no such part, or the prefix would not fit MaxAliasPrefixLength.
func StackPrefix(stackID string) (prefix Owner, ok bool) {
	i := strings.LastIndexByte(stackID, '/')
	if i < 0 || i == len(stackID)-1 || !strings.Contains(stackID[:i], ":stack/") {
		return "", false
	}
	p := "ecr-onboard-" + stackID[i+1:]
	if !validPrefix(p) {
		return "", false
	}
	return Owner(p), true
}

// StackNamePrefix is the prefix a stack that left AliasPrefix empty used
// before StackPrefix: its name, the middle part of its stack ID. Such a
// stack adopts the registrations it made under it (Adopts). ok is false
// when the name could not have been a prefix (longer than
// MaxAliasPrefixLength: the function refused it).
func StackNamePrefix(stackID string) (prefix Owner, ok bool) {
	_, rest, found := strings.Cut(stackID, ":stack/")
	name, _, hasID := strings.Cut(rest, "/")
	if !found || !hasID || !validPrefix(name) {
		return "", false
	}
	return Owner(name), true
}

// Adopts reports whether o takes r over from legacy, an earlier prefix of
// the same deployment (StackNamePrefix): legacy made r (in either alias
// form, for r's own account and region) and o did not. The plan writes an
// adopted registration of a registry it wants again, under o's alias, with
// AdoptReason; until then it is not o's: PRUNE and a disconnect, which go
// by Owns alone, never delete it (it may as well be another deployment's
// of the same legacy prefix, which adopts what it wants the same way).
func (o Owner) Adopts(legacy Owner, r Registry) bool {
	return legacy != "" && legacy != o && !o.Owns(r) && legacy.Owns(r)
}

// AdoptReason is the reason of the update that writes a registration
// legacy made under o's alias.
func (o Owner) AdoptReason(legacy Owner) string {
	return "registered under this deployment's earlier alias prefix " + string(legacy) + "; written again under " + string(o)
}
