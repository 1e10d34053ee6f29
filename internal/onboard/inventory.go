package onboard

import (
	"context"
	"fmt"
	"slices"
)

// RegionSource is where a run takes an account's regions from
// (REGION_SOURCE). The zero value is RegionsActive, the default.
type RegionSource int

const (
	// RegionsActive: every CSPM active region of the account.
	RegionsActive RegionSource = iota
	// RegionsECRInventory: only those of its active regions where Falcon's
	// cloud asset inventory lists at least one ECR repository of the
	// account. An account with none is reported, not registered.
	RegionsECRInventory
)

var regionSourceNames = []string{RegionsActive: "active", RegionsECRInventory: "ecr-inventory"}

// String is the REGION_SOURCE value of s.
func (s RegionSource) String() string {
	if int(s) < 0 || int(s) >= len(regionSourceNames) {
		return fmt.Sprintf("RegionSource(%d)", int(s))
	}
	return regionSourceNames[s]
}

// MarshalText writes s as its REGION_SOURCE value (in a report).
func (s RegionSource) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads s from its REGION_SOURCE value (a report read back).
func (s *RegionSource) UnmarshalText(b []byte) error {
	v, err := ParseRegionSource(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// ParseRegionSource reads a REGION_SOURCE value; empty is RegionsActive.
func ParseRegionSource(v string) (RegionSource, error) {
	if v == "" {
		return RegionsActive, nil
	}
	if i := slices.Index(regionSourceNames, v); i >= 0 {
		return RegionSource(i), nil
	}
	return 0, fmt.Errorf("%q is not active or ecr-inventory", v)
}

// RepositoryRegions is where Falcon's cloud asset inventory lists ECR
// repositories: by AWS account ID, the regions holding at least one (in
// any order; repeats are harmless). Accounts CSPM does not list, and
// regions that are not among an account's regions, are ignored by the plan.
type RepositoryRegions map[string][]string

// Inventory is Falcon's cloud asset inventory, as far as a run reads it. A
// Falcon that implements it can run with RegionsECRInventory; with
// RegionsActive it is never called.
type Inventory interface {
	// ECRRegions returns where the inventory lists ECR repositories: the
	// complete listing, or an error.
	ECRRegions(ctx context.Context) (RepositoryRegions, error)
}

// InventoryScopeHint names the API scope RegionsECRInventory needs on top of
// the ones in ScopesHint.
const InventoryScopeHint = "REGION_SOURCE=ecr-inventory also needs the scope Cloud Security API Assets: Read"

// NoRepositorySample is how many accounts without an ECR repository a
// report names; the rest are counted.
const NoRepositorySample = 10
