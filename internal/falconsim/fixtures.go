package falconsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// DefaultReaderRole is the role name GenerateAccounts uses.
const DefaultReaderRole = "CrowdStrikeCSPMReader"

// deriveExternalID returns a deterministic 32-hex-char external ID for id.
func deriveExternalID(id string) string {
	sum := sha256.Sum256([]byte("falconsim-external-id:" + id))
	return hex.EncodeToString(sum[:16])
}

// roleARNFor returns arn:aws:iam::<id>:role/<name>.
func roleARNFor(id, name string) string { return fmt.Sprintf("arn:aws:iam::%s:role/%s", id, name) }

// GenerateAccounts returns n deterministic healthy accounts: IDs
// 100000000000+i, names "account-<i>", role
// arn:aws:iam::<id>:role/CrowdStrikeCSPMReader trusting the registry
// assessment principal, a unique external ID derived from the account ID,
// and the given regions.
func GenerateAccounts(n int, regions []string) []Account {
	out := make([]Account, n)
	for i := range out {
		id := fmt.Sprintf("%012d", 100000000000+i)
		out[i] = Account{
			ID:                       id,
			Name:                     fmt.Sprintf("account-%d", i),
			Type:                     "commercial",
			OrganizationID:           "o-falconsim01",
			RoleARN:                  roleARNFor(id, DefaultReaderRole),
			ExternalID:               deriveExternalID(id),
			Regions:                  slices.Clone(regions),
			TrustsRegistryAssessment: true,
		}
	}
	return out
}

// ECRURL returns the ECR registry URL for an account and region.
func ECRURL(accountID, region string) string {
	return fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", accountID, region)
}

// DemoFixtures loads a small, readable scenario:
//
//   - 111111111111 prod-payments, 222222222222 prod-checkout,
//     333333333333 staging-web, 444444444444 data-lake: healthy, 2-3
//     regions each; prod-payments is already onboarded by ecr-onboard (one
//     registry per region, with the alias it writes and the correct
//     credential).
//   - 555555555555 legacy-batch: role does not trust the registry
//     assessment principal (creates fail with "unable to assume role").
//   - 666666666666 shared-tools: confused deputy, its role ARN points to
//     prod-checkout's role (ARN account != account ID).
//   - 777777777777 sandbox-dev: empty external ID.
//   - 888888888888 archive-cold: no active regions.
//
// The cloud asset inventory lists ECR repositories of prod-payments
// (us-east-1, us-west-2), prod-checkout (us-east-1), data-lake
// (ap-southeast-2, and us-west-1 where CSPM has it inactive) and
// legacy-batch (us-east-1), of shared-tools, and of 999999999999, an
// account CSPM does not list; staging-web has none. It also lists an S3
// bucket.
func DemoFixtures(s *Sim) {
	healthy := func(id, name string, regions ...string) Account {
		return Account{
			ID: id, Name: name, Type: "commercial", OrganizationID: "o-demo0001",
			RoleARN: roleARNFor(id, DefaultReaderRole), ExternalID: deriveExternalID(id),
			Regions: regions, TrustsRegistryAssessment: true,
		}
	}
	payments := healthy("111111111111", "prod-payments", "us-east-1", "us-west-2", "eu-west-1")
	checkout := healthy("222222222222", "prod-checkout", "us-east-1", "us-east-2")
	staging := healthy("333333333333", "staging-web", "us-west-2", "eu-central-1")
	dataLake := healthy("444444444444", "data-lake", "us-east-1", "ap-southeast-2", "eu-west-1")

	brokenTrust := healthy("555555555555", "legacy-batch", "us-east-1", "us-west-2")
	brokenTrust.TrustsRegistryAssessment = false

	deputy := healthy("666666666666", "shared-tools", "us-east-1", "eu-west-1")
	deputy.RoleARN = checkout.RoleARN // someone else's role

	noExt := healthy("777777777777", "sandbox-dev", "us-east-1", "us-west-1")
	noExt.ExternalID = ""

	noRegions := healthy("888888888888", "archive-cold")
	noRegions.Regions = nil

	s.AddAccounts(payments, checkout, staging, dataLake, brokenTrust, deputy, noExt, noRegions)
	for _, r := range []struct{ account, region, name string }{
		{payments.ID, "us-east-1", "payments-api"}, {payments.ID, "us-east-1", "payments-worker"},
		{payments.ID, "us-west-2", "payments-api"}, {checkout.ID, "us-east-1", "checkout-web"},
		{dataLake.ID, "ap-southeast-2", "etl"}, {dataLake.ID, "us-west-1", "etl-archive"},
		{brokenTrust.ID, "us-east-1", "batch"}, {deputy.ID, "us-east-1", "tools"},
		{"999999999999", "us-east-1", "not-in-cspm"},
	} {
		s.AddRepository(r.account, r.region, r.name)
	}
	s.AddResource(Resource{AccountID: staging.ID, Region: "us-west-2", ResourceType: "AWS::S3::Bucket", ResourceID: "staging-assets"})
	cred := onboard.Credential{RoleARN: payments.RoleARN, ExternalID: payments.ExternalID}
	for _, region := range payments.Regions {
		s.AddRegistry(Registry{
			URL:        ECRURL(payments.ID, region),
			Alias:      onboard.Owner("ecr-onboard").Alias(payments.ID, region, cred),
			RoleARN:    payments.RoleARN,
			ExternalID: payments.ExternalID,
		})
	}
}
