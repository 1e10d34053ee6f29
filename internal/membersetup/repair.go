package membersetup

import (
	"context"
	"errors"
)

// Repaired is what one repair found and did (the invocation's result).
type Repaired struct {
	// Status: "prepared" (the role is as it must be), "waiting" (no CSPM
	// role yet), "refused" (the same refusal as the repair before: said
	// then, not again), "idle" (no setup to keep: the stack's Create has
	// not run with this version, or its Delete has begun).
	Status  string `json:"status"`
	RoleARN string `json:"role_arn,omitempty"`
	// TrustPolicyUpdated and EcrReadOnlyAttached: written by this repair.
	TrustPolicyUpdated  bool     `json:"trust_policy_updated"`
	EcrReadOnlyAttached bool     `json:"ecr_read_only_attached"`
	Waiting             string   `json:"waiting,omitempty"`
	Refused             string   `json:"refused,omitempty"`
	Left                []string `json:"left,omitempty"`
}

// Repair runs the stack's preparation again, as its custom resource's
// Update would, with no CloudFormation request: a CSPM role that appeared
// after the stack is prepared, and one whose trust policy or attached
// policies were changed by someone else (CrowdStrike's CSPM stack, a
// person) is prepared again. It is the same preparation (trustpolicy's
// rules, IAM's quotas, the same refusals), so a repair after a repair
// writes nothing, which is why the IAM events of its own writes cannot make
// it loop. It works only on a setup the stack's Create or Update recorded
// (none: it does nothing), takes its turn (the stack's lease), and never
// writes once the stack's Delete has begun (ledger.go).
//
// A refusal is said once: the first repair that meets it logs it at ERROR
// and fails (the function's Errors metric counts it, once); the repairs
// after it that meet the same refusal log it at WARN and succeed, with
// Status "refused", until it is mended or another refusal takes its place.
// The record keeps which refusal was said (its fingerprint).
func (s *Setup) Repair(ctx context.Context, trigger string) (Repaired, error) {
	log := s.Log.With("trigger", trigger)
	if s.StackID == "" {
		return Repaired{}, errors.New("this function has no STACK_ID: deploy it with deploy/member/template.yaml of this version to repair")
	}
	partition, store, err := s.open(s.StackID)
	if err != nil {
		return Repaired{}, err
	}
	idle := func(why string) (Repaired, error) {
		log.Info("nothing to repair: " + why)
		return Repaired{Status: "idle"}, nil
	}
	r, found, err := loadRecord(ctx, store)
	switch {
	case err != nil:
		return Repaired{}, err
	case !found || r.Deleting:
		return idle("the stack's setup is not in force")
	}
	s.step(ctx, stepRecordRead)
	release, err := s.exclusive(ctx, s.StackID)
	defer release()
	if err != nil {
		log.Error("repair failed", "error", err.Error())
		return Repaired{}, err
	}
	l := &ledger{s: s, store: store, repair: true, id: r.PhysicalID}
	if err := l.update(ctx, func(*record) {}); errors.Is(err, errNotInForce) {
		return idle("the stack's Delete ran meanwhile")
	} else if err != nil {
		return Repaired{}, err
	}

	out, err := s.prepare(ctx, partition, s.RoleName, l)
	res := Repaired{Status: "prepared", RoleARN: out.role.ARN, TrustPolicyUpdated: out.trustUpdated,
		EcrReadOnlyAttached: out.policyAttached, Waiting: out.waiting, Left: out.left}
	var refused *refusal
	switch {
	case errors.Is(err, errNotInForce):
		log.Info("stopped before writing: the stack's Delete began meanwhile", "trust_policy_updated", out.trustUpdated, "ecr_read_only_attached", out.policyAttached)
		res.Status = "idle"
		return res, nil
	case errors.As(err, &refused):
		res.Status, res.Refused = "refused", refused.reason
		fp := fingerprint(refused.reason)
		if l.r.Refused == fp {
			log.Warn("still refused, as the last repair said", "reason", refused.reason)
			return res, nil
		}
		if rerr := l.update(ctx, func(r *record) { r.Refused = fp }); rerr != nil && !errors.Is(rerr, errNotInForce) {
			err = errors.Join(err, rerr)
		}
		log.Error("repair failed", "error", err.Error())
		return res, err
	case err != nil:
		log.Error("repair failed", "error", err.Error())
		return res, err
	}
	if l.r.Refused != "" {
		if err := l.update(ctx, func(r *record) { r.Refused = "" }); err != nil && !errors.Is(err, errNotInForce) {
			log.Warn("the mended refusal stays in the record", "error", err.Error())
		}
		log.Info("the refusal the last repair said is mended")
	}
	switch {
	case out.waiting != "":
		res.Status = "waiting"
		log.Info("waiting for the CSPM role", "waiting", out.waiting)
	case out.trustUpdated || out.policyAttached || len(out.left) > 0:
		log.Info("repaired", "role", out.role.ARN, "trust_policy_updated", out.trustUpdated,
			"ecr_read_only_attached", out.policyAttached, "left", out.left)
	}
	return res, nil
}
