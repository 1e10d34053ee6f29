package membersetup

import (
	"strings"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/iamrole"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trustpolicy"
)

// applied is what this function did to a CSPM role, carried from request to
// request in the custom resource's physical ID (CloudFormation hands it back
// with every Update and Delete), so that Delete undoes exactly that:
//
//	ecr-onboard-member/<role name>/<trust>/<ecr>
//
// trust: "kept" (the registry principal was trusted already, nothing
// written), "added-to-string" or "added-to-list" (how it was added to the
// CSPM statement); ecr: "kept" or "attached" (AmazonEC2ContainerRegistryReadOnly).
// Role "-": nothing was done (a Create that failed before writing). The ID
// carries no external ID: only what was added, never the condition.
type applied struct {
	Role     string
	Addition trustpolicy.Addition
	Attached bool
}

const physicalPrefix = "ecr-onboard-member/"

var additions = map[trustpolicy.Addition]string{
	trustpolicy.NotAdded:      "kept",
	trustpolicy.AddedToString: "added-to-string",
	trustpolicy.AddedToList:   "added-to-list",
}

// ID is the physical resource ID.
func (a applied) ID() string {
	role, ecr := a.Role, "kept"
	if role == "" {
		role = "-"
	}
	if a.Attached {
		ecr = "attached"
	}
	return physicalPrefix + role + "/" + additions[a.Addition] + "/" + ecr
}

// parseApplied reads a physical ID; ok is false for any other ID (one this
// function never answered, e.g. the request ID cfn.LambdaWrap falls back to
// after a panic): there is nothing of ours to undo then.
func parseApplied(id string) (a applied, ok bool) {
	rest, found := strings.CutPrefix(id, physicalPrefix)
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 3 {
		return applied{}, false
	}
	if parts[0] != "-" {
		if !iamrole.ValidRoleName(parts[0]) {
			return applied{}, false
		}
		a.Role = parts[0]
	}
	if a.Addition, ok = additionNamed(parts[1]); !ok {
		return applied{}, false
	}
	switch {
	case parts[2] == "attached":
		a.Attached = true
	case parts[2] != "kept":
		return applied{}, false
	}
	if a.Role == "" && (a.Addition != trustpolicy.NotAdded || a.Attached) {
		return applied{}, false
	}
	return a, true
}

func additionNamed(name string) (trustpolicy.Addition, bool) {
	for add, s := range additions {
		if s == name {
			return add, true
		}
	}
	return trustpolicy.NotAdded, false
}
