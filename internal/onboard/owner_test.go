package onboard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	stackA = "arn:aws:cloudformation:us-east-1:111111111111:stack/ecr-onboard/5b8c2a10-6f1e-11f0-9c2e-0a1b2c3d4e5f"
	stackB = "arn:aws-us-gov:cloudformation:us-gov-west-1:222222222222:stack/ecr-onboard/0d41c7e0-7a2b-11f0-8d3c-12ab34cd56ef"
)

// A stack's default prefix is unique to the stack: two stacks of one name
// (two accounts or regions) get two prefixes, within the alias's bound.
func TestStackPrefix(t *testing.T) {
	a, ok := StackPrefix(stackA)
	require.True(t, ok)
	assert.Equal(t, Owner("ecr-onboard-5b8c2a10-6f1e-11f0-9c2e-0a1b2c3d4e5f"), a)
	b, ok := StackPrefix(stackB)
	require.True(t, ok)
	assert.NotEqual(t, a, b, "same stack name, another stack")
	assert.LessOrEqual(t, len(a), MaxAliasPrefixLength)
	assert.True(t, validPrefix(string(a)))

	for _, bad := range []string{"", "ecr-onboard", "arn:aws:cloudformation:us-east-1:111111111111:stack/ecr-onboard/",
		"arn:aws:cloudformation:us-east-1:111111111111:stack/name/" + strings.Repeat("a", 49), "not/an/arn"} {
		_, ok := StackPrefix(bad)
		assert.False(t, ok, bad)
	}
}

func TestStackNamePrefix(t *testing.T) {
	name, ok := StackNamePrefix(stackA)
	require.True(t, ok)
	assert.Equal(t, Owner("ecr-onboard"), name)
	long := "arn:aws:cloudformation:us-east-1:111111111111:stack/" + strings.Repeat("n", MaxAliasPrefixLength+1) + "/5b8c2a10"
	_, ok = StackNamePrefix(long)
	assert.False(t, ok, "a name longer than any prefix was never one")
	_, ok = StackNamePrefix("ecr-onboard")
	assert.False(t, ok)
}

// Adopts: only registrations the legacy prefix made (either alias form, for
// their own account and region), never the owner's own, never anyone
// else's, never with no legacy prefix.
func TestOwnerAdopts(t *testing.T) {
	a := acct("111111111111", "us-east-1")
	owner, _ := StackPrefix(stackA)
	legacy := Owner("ecr-onboard")
	for name, tc := range map[string]struct {
		r      Registry
		legacy Owner
		want   bool
	}{
		"legacy, fingerprinted":              {ownedBy(legacy, a, "us-east-1"), legacy, true},
		"legacy, before the fingerprint":     {existing(a, "us-east-1", "ecr-onboard-111111111111-us-east-1"), legacy, true},
		"the owner's own":                    {ownedBy(owner, a, "us-east-1"), legacy, false},
		"someone else's":                     {existing(a, "us-east-1", "team-registry"), legacy, false},
		"another stack's new prefix":         {ownedBy(Owner("ecr-onboard-0d41c7e0-7a2b-11f0-8d3c-12ab34cd56ef"), a, "us-east-1"), legacy, false},
		"legacy alias of another account":    {existing(a, "us-east-1", legacy.Alias("222222222222", "us-east-1", credOf(a))), legacy, false},
		"no legacy prefix":                   {ownedBy(legacy, a, "us-east-1"), "", false},
		"the legacy prefix is the owner's":   {ownedBy(legacy, a, "us-east-1"), Owner("ecr-onboard"), true},
		"a legacy prefix equal to the owner": {ownedBy(owner, a, "us-east-1"), owner, false},
	} {
		t.Run(name, func(t *testing.T) {
			o := owner
			if name == "the legacy prefix is the owner's" {
				o = Owner("team")
			}
			assert.Equal(t, tc.want, o.Adopts(tc.legacy, tc.r))
		})
	}
}

// A stack's registrations made under its name are written again under its
// new prefix (an update with the adoption's reason), and while they carry
// the name they are never deleted: not by PRUNE (their region inactive),
// not by a disconnect.
func TestPlanAdoptsRegistrationsOfTheLegacyPrefix(t *testing.T) {
	owner, _ := StackPrefix(stackA)
	legacy, _ := StackNamePrefix(stackA)
	a := acct("111111111111", "us-east-1")
	adoptable := ownedBy(legacy, a, "us-east-1")
	inactive := ownedBy(legacy, a, "eu-west-1") // its region is no longer active
	observed := Observed{Accounts: []Account{a}, Registries: []Registry{adoptable, inactive}, Absent: map[string]bool{}}

	p := NewPlan(observed, Policy{Owner: owner, Adopt: legacy, Mode: Prune})
	require.Len(t, p.Actions, 1, "one adoption, no deletion: %+v", p.Actions)
	got := p.Actions[0]
	assert.Equal(t, Update, got.Kind)
	assert.Equal(t, adoptable.ID, got.Registry.ID)
	assert.Equal(t, owner.Alias(a.ID, "us-east-1", credOf(a)), got.Registry.Alias, "written under the new prefix")
	assert.Equal(t, owner.AdoptReason(legacy), got.Reason)
	assert.Contains(t, got.Reason, "ecr-onboard;")
	assert.Empty(t, p.NotOwned)
	assert.Empty(t, p.OtherPrefix)

	d := NewPlan(observed, Policy{Owner: owner, Adopt: legacy, Mode: Disconnect})
	assert.Empty(t, d.Actions, "a disconnect deletes what the owner's alias marks, nothing of the legacy prefix")

	// Without Adopt, the same registration is someone else's (another
	// prefix's): reported, never written.
	n := NewPlan(observed, Policy{Owner: owner})
	assert.Empty(t, n.Actions)
	require.Len(t, n.OtherPrefix, 1)
	assert.Equal(t, "ecr-onboard", n.OtherPrefix[0].Prefix)

	// A paused legacy registration is left alone, its adoption reported as
	// the drift not repaired.
	paused := adoptable
	paused.State = "paused"
	require.Equal(t, StateChoice, StateOf(paused.State))
	pp := NewPlan(Observed{Accounts: []Account{a}, Registries: []Registry{paused}}, Policy{Owner: owner, Adopt: legacy})
	assert.Empty(t, pp.Actions)
	require.Len(t, pp.Paused, 1)
	assert.Equal(t, owner.AdoptReason(legacy), pp.Paused[0].Drift)
}

// Two stacks of one name onboarding into one tenant both adopt from the
// name they shared; the first to write takes the registration, and the
// other then sees another prefix's: it neither writes nor deletes it.
func TestTwoStacksOfOneNameOwnNothingOfEachOther(t *testing.T) {
	ownerA, _ := StackPrefix(stackA)
	ownerB, _ := StackPrefix(stackB)
	legacy := Owner("ecr-onboard")
	a := acct("111111111111", "us-east-1")
	takenByA := ownedBy(ownerA, a, "us-east-1")
	takenByA.ID = "id-shared"

	for _, mode := range []Mode{Reconcile, Prune, Disconnect} {
		p := NewPlan(Observed{Accounts: []Account{a}, Registries: []Registry{takenByA}, Absent: map[string]bool{}},
			Policy{Owner: ownerB, Adopt: legacy, Mode: mode})
		assert.Empty(t, p.Actions, "mode %d: B never writes A's", mode)
	}
	p := NewPlan(Observed{Registries: []Registry{takenByA}}, Policy{Owner: ownerA, Adopt: legacy, Mode: Disconnect})
	require.Len(t, p.Actions, 1, "A's disconnect removes its own")
}
