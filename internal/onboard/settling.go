package onboard

import (
	"errors"
	"fmt"
	"time"
)

// SetupWindow is how long a rejected credential is taken for trust still
// being prepared rather than for a fault: after CSPM registers an account
// (a new member of an organization gets its CSPM role and, from the member
// StackSet, the registry-assessment principal, in an order nobody defines),
// and after Falcon reports an owned registration's credential unusable (a
// CSPM stack update rewrote the role's trust policy, and the member setup
// re-prepares it). The member setup applies the principal within its
// repair interval and a minute of either (6 minutes at its default; README,
// "Organisation setup"); the window leaves room for CSPM's own role
// deployment and a slow repair, and a role nobody prepares is reported as a
// failure, with its hint, half an hour later.
const SetupWindow = 30 * time.Minute

// settling says why a write for account a's registry (have: the existing
// registration, nil for a create) may meet a credential Falcon rejects only
// because the role's trust is still being prepared, as of now; "" when
// nothing says so (or now is zero: no window). The write is planned and
// sent as any other; only a rejection is reported as pending rather than
// failed (Report.add).
func settling(a Account, have *Registry, now time.Time) string {
	within := func(t time.Time) bool {
		return !now.IsZero() && !t.IsZero() && now.Sub(t) < SetupWindow && !t.After(now.Add(time.Minute))
	}
	switch {
	case within(a.RegisteredAt):
		return fmt.Sprintf("CSPM registered this account %s ago", since(a.RegisteredAt, now))
	case have != nil && StateOf(have.State) == StateVerdict && within(have.StateChangedAt):
		return fmt.Sprintf("Falcon reported the registration %q %s ago", have.State, since(have.StateChangedAt, now))
	}
	return ""
}

// since is d rounded to the minute for a person ("under a minute" below).
func since(t, now time.Time) string {
	d := now.Sub(t).Round(time.Minute)
	if d < time.Minute {
		return "under a minute"
	}
	return d.String()
}

// pendingNote describes a write Falcon refused — it rejected the
// credential, or accepted it and kept its verdict — while the role is
// likely still being prepared: not a fault yet.
func pendingNote(a Action, err error) Failure {
	f := failure(a.Registry, err)
	prepared, adds := "its role's trust is", "adds the registry-assessment principal to the role's trust policy"
	var kv *keptVerdict
	if errors.As(err, &kv) {
		prepared, adds = "its role is", "attaches AmazonEC2ContainerRegistryReadOnly to the role"
	}
	tried := ""
	var rj *rejection
	if errors.As(err, &rj) {
		tried = rj.tried()
	}
	f.Hint = fmt.Sprintf("%s, and %s likely still being prepared%s: the member setup (deploy/member/template.yaml) %s within minutes, "+
		"and the next run registers it. Still refused %s after that, it is reported as failed, with what to fix", a.Settling, prepared, tried, adds, SetupWindow)
	return f
}
