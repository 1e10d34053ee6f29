package membersetup

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

// The custom resource's identity and what the setup did are kept apart
// (CloudFormation reads a new PhysicalResourceId as a replacement, and then
// sends Delete for the old one: an ID that described what was done made an
// Update that re-applied something answer a new ID, and the Delete of the
// old one undid it again).
//
//   - The physical ID is the identity: "ecr-onboard-member/" + the Create
//     request's ID, answered by every later request unchanged, so that
//     CloudFormation never replaces the resource and never sends a Delete
//     but for the resource's end. IDs of earlier versions (legacyID) are
//     kept as they are too.
//   - The record is the state: what this setup added, role by role, in a
//     String parameter of the member account (recordName) that only the
//     setup function writes. A CSPM stack update may rewrite or replace the
//     CSPM role (its tags included), never this. The record names the
//     physical ID it belongs to; a Delete of any other ID undoes nothing.

// physicalPrefix starts every physical ID this function answers.
const physicalPrefix = "ecr-onboard-member/"

// physicalID is the identity of the resource a Create request makes.
func physicalID(createRequestID string) string { return physicalPrefix + createRequestID }

// recordName is the record's parameter name for a stack ARN
// (arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/UUID); the member
// template grants the setup function this name alone.
func recordName(stackID string) (string, error) {
	_, rest, ok := strings.Cut(stackID, ":stack/")
	name, _, _ := strings.Cut(rest, "/")
	if !ok || name == "" {
		return "", fmt.Errorf("StackId %q is not a CloudFormation stack ARN", stackID)
	}
	return "/ecr-onboard/member/" + name, nil
}

// record is what this setup added, as kept in the parameter (JSON).
type record struct {
	// PhysicalID is the custom resource's ID, set by the Create or Update
	// that wrote the record (repairs act only on a record that has one).
	PhysicalID string `json:"physical_resource_id,omitempty"`
	// Deleting is set when the stack's Delete begins: repairs then leave
	// everything alone.
	Deleting bool `json:"deleting,omitempty"`
	// Legacy is set once an ID of an earlier version has been read into
	// Roles (legacyID), so that what it says is read once.
	Legacy bool `json:"legacy_id_read,omitempty"`
	// Roles: role name -> what this setup added to it.
	Roles map[string]added `json:"roles,omitempty"`
	// Refused is the fingerprint of the refusal the last repair met
	// (repair.go), so that a repair meeting it again does not say it again.
	Refused string `json:"refused,omitempty"`
}

// added is what this setup added to one role.
type added struct {
	// Principal: how the registry-assessment principal was added to the
	// CSPM statement (the last time it was), so that Revert restores the
	// statement's shape; NotAdded: it was there already.
	Principal trustpolicy.Addition `json:"principal,omitempty"`
	// ECRReadOnly: AmazonEC2ContainerRegistryReadOnly was attached here.
	ECRReadOnly bool `json:"ecr_read_only,omitempty"`
}

func (a added) none() bool { return a.Principal == trustpolicy.NotAdded && !a.ECRReadOnly }

// merge adds b to a: what either added was added.
func (a added) merge(b added) added {
	if b.Principal != trustpolicy.NotAdded {
		a.Principal = b.Principal
	}
	a.ECRReadOnly = a.ECRReadOnly || b.ECRReadOnly
	return a
}

func parseRecord(s string) (record, error) {
	var r record
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return record{}, fmt.Errorf("the setup's record is not what this version writes (%w): %s", err, s)
	}
	for name := range r.Roles {
		if !iamrole.ValidRoleName(name) {
			return record{}, fmt.Errorf("the setup's record names %q, which is not an IAM role name", name)
		}
	}
	return r, nil
}

func (r record) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// add records what was added to role.
func (r *record) add(role string, a added) {
	if a.none() {
		return
	}
	if r.Roles == nil {
		r.Roles = map[string]added{}
	}
	r.Roles[role] = r.Roles[role].merge(a)
}

// roles are the recorded role names, sorted.
func (r record) roles() []string { return slices.Sorted(maps.Keys(r.Roles)) }

// readLegacy adds what an ID of an earlier version says it did, once.
func (r *record) readLegacy(id string) {
	if l, ok := parseLegacyID(id); ok && !r.Legacy {
		r.add(l.role, l.added)
		r.Legacy = true
	}
}

// legacyID is a physical ID of the versions that kept their state in it:
//
//	ecr-onboard-member/<role name>/<trust>/<ecr>
//
// trust: "kept" (the registry principal was trusted already),
// "added-to-string" or "added-to-list"; ecr: "kept" or "attached"
// (AmazonEC2ContainerRegistryReadOnly). Role "-": nothing was done.
type legacyID struct {
	role  string
	added added
}

var legacyAdditions = map[string]trustpolicy.Addition{
	"kept":            trustpolicy.NotAdded,
	"added-to-string": trustpolicy.AddedToString,
	"added-to-list":   trustpolicy.AddedToList,
}

func parseLegacyID(id string) (legacyID, bool) {
	rest, found := strings.CutPrefix(id, physicalPrefix)
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 3 {
		return legacyID{}, false
	}
	add, ok := legacyAdditions[parts[1]]
	if !ok || (parts[2] != "kept" && parts[2] != "attached") {
		return legacyID{}, false
	}
	l := legacyID{role: parts[0], added: added{Principal: add, ECRReadOnly: parts[2] == "attached"}}
	if l.role == "-" { // a Create that failed before writing
		return legacyID{}, l.added.none()
	}
	return l, iamrole.ValidRoleName(l.role)
}

// ours reports whether id is a physical ID this function answers (this
// version's or an earlier one's).
func ours(id string) bool {
	if _, ok := parseLegacyID(id); ok {
		return true
	}
	rest, found := strings.CutPrefix(id, physicalPrefix)
	return found && rest != "" && !strings.Contains(rest, "/")
}
