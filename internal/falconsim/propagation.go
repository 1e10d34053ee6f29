package falconsim

// PropagateTrust makes a role's trust policy reach Falcon's credential
// validation only after attempts validations have failed, as right after a
// person adds the registry-assessment principal to it: IAM propagates a
// trust-policy change over seconds, and meanwhile Falcon answers a create
// (or credential PATCH) with 400 "failed to validate registry credential".
// CrowdStrike's cloud-registry-connections Lambda waits a minute after
// creating its role before registering for this reason
// (AWS/source/lambda/lambda.py). The role must exist and trust the
// principal (AddRole, AddAccounts); attempts 0 ends the delay.
func (s *Sim) PropagateTrust(roleARN string, attempts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if attempts <= 0 {
		delete(s.propagating, roleARN)
		return
	}
	s.propagating[roleARN] = attempts
}

// propagated reports whether a role's trust policy has reached validation,
// counting this validation as one attempt if not. Caller holds mu.
func (s *Sim) propagated(roleARN string) bool {
	n, pending := s.propagating[roleARN]
	if !pending {
		return true
	}
	if n <= 1 {
		delete(s.propagating, roleARN)
	} else {
		s.propagating[roleARN] = n - 1
	}
	return false
}
