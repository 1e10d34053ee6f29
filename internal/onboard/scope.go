package onboard

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope is which accounts and regions a run may touch. The zero Scope
// allows every account and region. A Scope can only be narrowed: a
// request's lists are intersected with the configured ones, and an
// intersection with nothing in common is a Scope that matches nothing —
// never, as an empty list would read, one that matches everything.
type Scope struct {
	accounts []string // nil: every account
	excluded []string
	regions  []string // nil: every region
	// configured is REGIONS as configured: the only regions that stand in
	// for an account CSPM lists no active region for (README, "What a run does"). A
	// request's regions narrow them, never replace them.
	configured []string
	nothing    bool
}

// NewScope is the configured scope: ACCOUNT_IDS, EXCLUDE_ACCOUNT_IDS and
// REGIONS (an empty list: no restriction). A value that is not a region
// name matches nothing.
func NewScope(accountIDs, excluded, regions []string) Scope {
	return Scope{
		accounts:   nilIfEmpty(accountIDs),
		excluded:   slices.Clone(excluded),
		regions:    nilIfEmpty(regions),
		configured: slices.Clone(regions),
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// Narrow keeps only what both s and the request n allow.
func (s Scope) Narrow(n Narrowing) Scope {
	out := s
	var emptyA, emptyR bool
	out.accounts, emptyA = intersect(s.accounts, n.AccountIDs)
	out.regions, emptyR = intersect(s.regions, n.Regions)
	out.nothing = s.nothing || emptyA || emptyR
	return out
}

// intersect narrows allowlist base (nil: everything) by req (empty: no
// narrowing); empty reports that they have nothing in common.
func intersect(base, req []string) (out []string, empty bool) {
	switch {
	case len(req) == 0:
		return base, false
	case base == nil:
		return slices.Clone(req), false
	}
	for _, v := range req {
		if slices.Contains(base, v) {
			out = append(out, v)
		}
	}
	return out, len(out) == 0
}

// MatchesNothing reports whether narrowing left nothing in scope.
func (s Scope) MatchesNothing() bool { return s.nothing }

// Empty says why the scope can select no account at all, whatever CSPM
// lists ("" when it can select some): a request with nothing in common
// with the configuration, or ACCOUNT_IDS whose every account
// EXCLUDE_ACCOUNT_IDS (or the request) leaves out. Such a run covers
// nothing, and must not read as clean.
func (s Scope) Empty() string {
	switch {
	case s.nothing:
		return "the request and the configuration (ACCOUNT_IDS, REGIONS) have no account or region in common"
	case s.accounts != nil && len(s.named()) == 0:
		return fmt.Sprintf("EXCLUDE_ACCOUNT_IDS excludes every account ACCOUNT_IDS or the request names (%s)", strings.Join(s.accounts, ", "))
	}
	return ""
}

// HasAccount reports whether account id is in scope.
func (s Scope) HasAccount(id string) bool {
	return !s.nothing && (s.accounts == nil || slices.Contains(s.accounts, id)) && !slices.Contains(s.excluded, id)
}

// HasRegion reports whether region is in scope.
func (s Scope) HasRegion(region string) bool {
	return !s.nothing && ValidRegion(region) && (s.regions == nil || slices.Contains(s.regions, region))
}

// named is the accounts the scope is restricted to, in scope (nil: the
// scope names none, every account is in it).
func (s Scope) named() []string {
	var out []string
	for _, id := range s.accounts {
		if s.HasAccount(id) {
			out = append(out, id)
		}
	}
	return out
}

// String describes the scope for logs.
func (s Scope) String() string {
	if s.nothing {
		return "nothing (the request and the configuration have no account or region in common)"
	}
	list := func(l []string, all string) string {
		if l == nil {
			return all
		}
		return strings.Join(l, ",")
	}
	out := "accounts " + list(s.accounts, "all") + ", regions " + list(s.regions, "all")
	if len(s.excluded) > 0 {
		out += ", excluding " + strings.Join(s.excluded, ",")
	}
	return out
}

// regionsOf is account a's regions under policy p: its CSPM active
// regions, or when CSPM lists none the configured REGIONS; within the scope
// and the role's partition (a role cannot serve another partition's
// registries), sorted and unique. With RegionsECRInventory, only those of
// them where repos (the cloud asset inventory) holds a repository of a;
// noRepository then says a has regions in scope but none with a repository.
// A refusal says why an account in scope has none.
func regionsOf(a Account, p Policy, repos RepositoryRegions) (regions []string, noRepository bool, r *Refusal) {
	s := p.Scope
	regions = a.Regions
	if len(regions) == 0 {
		if len(s.configured) == 0 {
			return nil, false, &Refusal{Reason: "CSPM lists no active region for this account (set REGIONS to onboard it anyway)"}
		}
		regions = s.configured
	}
	partition, _, _ := ParseRoleARN(a.RoleARN)
	var out, other []string
	for _, r := range regions {
		switch {
		case !s.HasRegion(r):
		case Partition(r) != partition:
			other = append(other, r)
		default:
			out = append(out, r)
		}
	}
	if len(out) == 0 && len(other) > 0 {
		return nil, false, &Refusal{Reason: fmt.Sprintf("CSPM active regions %s are not in the role's partition %q", strings.Join(other, ", "), partition)}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if p.RegionSource == RegionsECRInventory && len(out) > 0 {
		held := repos[a.ID]
		out = slices.DeleteFunc(out, func(r string) bool { return !slices.Contains(held, r) })
		return out, len(out) == 0, nil
	}
	return out, false, nil
}

// Narrowing asks a run to keep only some accounts and regions: the CLI's
// flags, a manual event, a continuation message. It can only narrow the
// configuration (Scope.Narrow). A nil list asks for no narrowing.
type Narrowing struct {
	AccountIDs []string `json:"account_ids,omitempty"`
	Regions    []string `json:"regions,omitempty"`
}

// String describes n for a person: "accounts 111111111111,222222222222;
// regions us-east-1" (a list not given is left out).
func (n Narrowing) String() string {
	var parts []string
	if len(n.AccountIDs) > 0 {
		parts = append(parts, "accounts "+strings.Join(n.AccountIDs, ","))
	}
	if len(n.Regions) > 0 {
		parts = append(parts, "regions "+strings.Join(n.Regions, ","))
	}
	if len(parts) == 0 {
		return "nothing narrowed"
	}
	return strings.Join(parts, "; ")
}

// narrows reports whether n names accounts or regions, and if so a copy
// of it for the report. Any such request narrows, even one that happens to
// name every account CSPM lists today: a run is judged by what it was asked,
// not by what its answer happened to match.
func (n Narrowing) narrows() (bool, *Narrowing) {
	if len(n.AccountIDs) == 0 && len(n.Regions) == 0 {
		return false, nil
	}
	return true, &Narrowing{AccountIDs: slices.Clone(n.AccountIDs), Regions: slices.Clone(n.Regions)}
}

// Check validates a narrowing request, however it arrived: every account a
// 12-digit ID, every region a region name. A list given but empty is
// refused: read literally it would ask for no narrowing at all.
func (n Narrowing) Check() error {
	var errs []error
	if n.AccountIDs != nil && len(n.AccountIDs) == 0 {
		errs = append(errs, errors.New("account_ids is empty: leave it out to keep the configured accounts"))
	}
	if n.Regions != nil && len(n.Regions) == 0 {
		errs = append(errs, errors.New("regions is empty: leave it out to keep the configured regions"))
	}
	for _, id := range n.AccountIDs {
		if !ValidAccountID(id) {
			errs = append(errs, fmt.Errorf("account %q is not a 12-digit AWS account ID", id))
		}
	}
	for _, r := range n.Regions {
		if !ValidRegion(r) {
			errs = append(errs, fmt.Errorf("region %q is not an AWS region name such as us-east-1", r))
		}
	}
	return errors.Join(errs...)
}
