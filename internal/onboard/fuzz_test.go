package onboard

import (
	"strings"
	"testing"
)

func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"https://111111111111.dkr.ecr.us-east-1.amazonaws.com", "HTTP://111111111111.DKR.ECR.cn-north-1.amazonaws.com.cn//",
		"111111111111.dkr.ecr.us-gov-west-1.amazonaws.com", "https://index.docker.io/", "", "https://",
		"https://111111111111.dkr.ecr-fips.us-east-1.amazonaws.com/v2/", "https://111111111111.dkr-ecr-fips.us-west-2.on.aws",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n := NormalizeURL(raw)
		if NormalizeURL(n) != n {
			t.Fatalf("NormalizeURL not idempotent: %q -> %q -> %q", raw, n, NormalizeURL(n))
		}
		host, ok := strings.CutPrefix(n, "https://")
		if !ok {
			host, ok = strings.CutPrefix(n, "http://")
		}
		if !ok || strings.ContainsAny(host, "/?#") {
			t.Fatalf("NormalizeURL(%q) = %q: a scheme and a host alone", raw, n)
		}
		acc, region, ok := ParseECRURL(raw)
		if !ok {
			return
		}
		if !ValidAccountID(acc) || !ValidRegion(region) {
			t.Fatalf("ParseECRURL(%q) accepted %q %q", raw, acc, region)
		}
		if a2, r2, ok := ParseECRURL(n); !ok || a2 != acc || r2 != region {
			t.Fatalf("ParseECRURL(%q) = %s %s, of its normal form %q: %s %s", raw, acc, region, n, a2, r2)
		}
		if a2, r2, ok := ParseECRURL(RegistryURL(acc, region)); !ok || a2 != acc || r2 != region {
			t.Fatalf("ParseECRURL(%q) round trip through RegistryURL: %s %s", raw, a2, r2)
		}
	})
}

// FuzzPlan checks the safety rules on arbitrary CSPM data: every planned
// registry belongs to the account whose credential it carries, and no
// external ID is used by two accounts.
func FuzzPlan(f *testing.F) {
	f.Add("111111111111", "arn:aws:iam::111111111111:role/R", "ext", "us-east-1,eu-west-1", "222222222222", "arn:aws:iam::111111111111:role/R", "ext", "us-east-1")
	f.Add("111111111111", "arn:aws-cn:iam::111111111111:role/R", " x", "cn-north-1", "333333333333", "arn:aws:iam::333333333333:role/R", "", "")
	f.Fuzz(func(t *testing.T, id1, arn1, ext1, regions1, id2, arn2, ext2, regions2 string) {
		accounts := []Account{
			{ID: id1, RoleARN: arn1, ExternalID: ext1, Regions: strings.Split(regions1, ",")},
			{ID: id2, RoleARN: arn2, ExternalID: ext2, Regions: strings.Split(regions2, ",")},
		}
		p := planOf(accounts, nil, Scope{}, "p")
		users := map[string]string{}
		for _, a := range p.Actions {
			r := a.Registry
			_, arnAccount, err := ParseRoleARN(r.Credential.RoleARN)
			if err != nil || arnAccount != r.AccountID || strings.TrimSpace(r.Credential.ExternalID) == "" {
				t.Fatalf("unsafe registration planned: %+v", r)
			}
			if acc, region, ok := ParseECRURL(r.URL); !ok || acc != r.AccountID || region != r.Region {
				t.Fatalf("registry URL %q does not match %s/%s", r.URL, r.AccountID, r.Region)
			}
			if prev, ok := users[r.Credential.ExternalID]; ok && prev != r.AccountID {
				t.Fatalf("external ID used by %s and %s", prev, r.AccountID)
			}
			users[r.Credential.ExternalID] = r.AccountID
		}
	})
}
