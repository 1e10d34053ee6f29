package membersetup

import (
	"context"
	"errors"
	"fmt"
)

// Repaired is what one repair found and did (the invocation's result).
type Repaired struct {
	// Status: "prepared" (the role is as it must be), "waiting" (no CSPM
	// role yet), "idle" (no setup to keep: the stack's Create has not run
	// with this version, or its Delete has begun).
	Status  string `json:"status"`
	RoleARN string `json:"role_arn,omitempty"`
	// TrustPolicyUpdated and EcrReadOnlyAttached: written by this repair.
	TrustPolicyUpdated  bool     `json:"trust_policy_updated"`
	EcrReadOnlyAttached bool     `json:"ecr_read_only_attached"`
	Waiting             string   `json:"waiting,omitempty"`
	Left                []string `json:"left,omitempty"`
}

// Repair runs the stack's preparation again, as its custom resource's
// Update would, with no CloudFormation request: a CSPM role that appeared
// after the stack is prepared, and one whose trust policy or attached
// policies were changed by someone else (CrowdStrike's CSPM stack, a
// person) is prepared again. It is the same preparation (trustpolicy's
// rules, the same refusals), so a repair after a repair writes nothing,
// which is why the IAM events of its own writes cannot make it loop. It
// works only on a setup the stack's Create or Update recorded (none: it
// does nothing), and never once the stack's Delete has begun. A refusal is
// an error: logged, and counted in the function's Errors metric.
func (s *Setup) Repair(ctx context.Context, trigger string) (Repaired, error) {
	log := s.Log.With("trigger", trigger)
	if s.StackID == "" {
		return Repaired{}, errors.New("this function has no STACK_ID: deploy it with deploy/member/template.yaml of this version to repair")
	}
	partition, store, err := s.open(s.StackID)
	if err != nil {
		return Repaired{}, err
	}
	r, found, err := loadRecord(ctx, store)
	switch {
	case err != nil:
		return Repaired{}, err
	case !found || r.Deleting:
		log.Info("nothing to repair: the stack's setup is not in force", "record", found)
		return Repaired{Status: "idle"}, nil
	}
	before := r.String()
	out, err := s.prepare(ctx, partition, s.RoleName, &r)
	if after := r.String(); after != before {
		if perr := store.Put(ctx, after); perr != nil {
			err = errors.Join(err, fmt.Errorf("recording what was added: %w", perr))
		}
	}
	res := Repaired{Status: "prepared", RoleARN: out.role.ARN, TrustPolicyUpdated: out.trustUpdated,
		EcrReadOnlyAttached: out.policyAttached, Waiting: out.waiting, Left: out.left}
	switch {
	case err != nil:
		log.Error("repair failed", "error", err.Error())
		return res, err
	case out.waiting != "":
		res.Status = "waiting"
		log.Info("waiting for the CSPM role", "waiting", out.waiting)
	case out.trustUpdated || out.policyAttached || len(out.left) > 0:
		log.Info("repaired", "role", out.role.ARN, "trust_policy_updated", out.trustUpdated,
			"ecr_read_only_attached", out.policyAttached, "left", out.left)
	}
	return res, nil
}
