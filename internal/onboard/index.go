package onboard

// registrations indexes what Container Security has by the registry each
// registration is for: an ECR registry by its account and region, whatever
// hostname (ParseECRURL), path or scheme the registration uses; anything
// else by its normalized URL. A plan, a re-check after a create and the
// coverage of skipped accounts all ask it, so one registry is one registry
// everywhere.
type registrations map[string]*registered

// registered is what Container Security has for one registry: the
// registration that covers it, if any — an https:// one, the owner's first
// when there are several — and the http:// ones, which do not (Insecure).
type registered struct {
	cover    *Registry
	unusable []Registry
}

func indexRegistrations(existing []Registry, owner Owner) registrations {
	idx := make(registrations, len(existing))
	for _, r := range existing {
		k := registryKey(r)
		e := idx[k]
		if e == nil {
			e = &registered{}
			idx[k] = e
		}
		switch {
		case r.Insecure():
			e.unusable = append(e.unusable, r)
		case e.cover == nil || (owner.Owns(r) && !owner.Owns(*e.cover)):
			e.cover = &r
		}
	}
	return idx
}

// of is what Container Security has for the ECR registry of an account in
// a region (never nil).
func (idx registrations) of(accountID, region string) registered {
	if e := idx[accountID+"/"+region]; e != nil {
		return *e
	}
	return registered{}
}

// registryKey is the registry r is for (see registrations).
func registryKey(r Registry) string {
	account, region := r.AccountID, r.Region
	if account == "" || region == "" {
		account, region, _ = ParseECRURL(r.URL)
	}
	if account != "" && region != "" {
		return account + "/" + region
	}
	return NormalizeURL(r.URL)
}
