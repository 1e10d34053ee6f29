package falconsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// DefaultReaderRole is the role name GenerateAccounts uses; an
// Organization's role name is it with a suffix.
const DefaultReaderRole = "CrowdStrikeCSPMReader"

// cspmConnector is CSPM's intermediate role in the commercial partition.
var cspmConnector = func() string {
	p, _ := crowdstrike.For("aws")
	return p.CSPMConnector
}()

// derive returns a deterministic hex string of n (<= 64) characters for what.
func derive(what string, n int) string {
	sum := sha256.Sum256([]byte(what))
	return hex.EncodeToString(sum[:])[:n]
}

// deriveExternalID returns a deterministic 32-hex-char external ID for id.
func deriveExternalID(id string) string { return derive("falconsim-external-id:"+id, 32) }

// roleARNFor returns arn:aws:iam::<id>:role/<name>.
func roleARNFor(id, name string) string { return fmt.Sprintf("arn:aws:iam::%s:role/%s", id, name) }

// GenerateAccounts returns n deterministic healthy standalone accounts (no
// organization): IDs 100000000000+i, names "account-<i>", role
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
			RoleARN:                  roleARNFor(id, DefaultReaderRole),
			ExternalID:               deriveExternalID(id),
			IntermediateRoleARN:      cspmConnector,
			Regions:                  slices.Clone(regions),
			TrustsRegistryAssessment: true,
		}
	}
	return out
}

// GeneratedOrganizationID is the organization GenerateOrganization makes.
const GeneratedOrganizationID = "o-falconsim01"

// GenerateOrganization returns an AWS Organization of n accounts over
// regions: GeneratedOrganizationID, management account 200000000000, its
// members 200000000001 onwards (see Organization).
func GenerateOrganization(n int, regions []string) []Account {
	return Organization{ID: GeneratedOrganizationID, FirstAccount: 200000000000, Size: n, Regions: regions}.Accounts()
}

// Organization is an AWS Organization registered with CSPM the way
// CrowdStrike's own tooling registers one: one registration whose external
// ID, role name and intermediate role the management account and every
// member deploy (CrowdStrike/terraform-aws-cloud-registration,
// examples/org-aws-role/main.tf, where each child module takes
// crowdstrike_cloud_aws_account.this.external_id and .iam_role_name; its
// main.tf reads an organization's settings from the first account "because
// all accounts will have the same settings"). So every account has the same
// external ID and the same role name (its own role, in its own account),
// carries the organization's ID, and the management account is_master. The
// role name is CrowdStrike's generated form, DefaultReaderRole followed by a
// random suffix (here derived from the organization's ID).
type Organization struct {
	ID string // AWS Organization ID, o- and 10 to 32 of [0-9a-z]
	// FirstAccount is the management account's ID; the members follow:
	// FirstAccount+1, FirstAccount+2, …
	FirstAccount int64
	Size         int      // accounts, the management account included
	Regions      []string // every account's active regions
}

// Accounts returns the organization's accounts, its management account
// first ("management"), then its members ("member-<i>"), each with a role
// that trusts the registry-assessment principal.
func (o Organization) Accounts() []Account {
	externalID := deriveExternalID("organization:" + o.ID)
	roleName := DefaultReaderRole + "-" + derive("falconsim-role-suffix:"+o.ID, 12)
	out := make([]Account, o.Size)
	for i := range out {
		id := fmt.Sprintf("%012d", o.FirstAccount+int64(i))
		name := fmt.Sprintf("member-%d", i)
		if i == 0 {
			name = "management"
		}
		out[i] = Account{
			ID: id, Name: name, Type: "commercial",
			OrganizationID: o.ID, IsMaster: i == 0,
			RoleARN: roleARNFor(id, roleName), ExternalID: externalID, IntermediateRoleARN: cspmConnector,
			Regions: slices.Clone(o.Regions), TrustsRegistryAssessment: true,
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
// Those are standalone registrations. Beside them, the AWS Organization
// o-demoorg0001, registered with CSPM as one (Organization: one external ID
// and one role name for all its accounts):
//
//   - 121212121210 org-management (the management account), 121212121211
//     org-prod-api, 121212121212 org-prod-web: healthy, 1-2 regions each;
//   - 121212121213 org-new-team: CSPM has not finished onboarding it
//     (registration_status provisioned: its role is not deployed yet).
//
// And 131313131313 china-analytics, in aws-cn, where Container Security has
// no registry-assessment principal.
//
// The cloud asset inventory lists ECR repositories of prod-payments
// (us-east-1, us-west-2), prod-checkout (us-east-1), data-lake
// (ap-southeast-2, and us-west-1 where CSPM has it inactive),
// legacy-batch (us-east-1) and org-prod-api (us-east-1), of shared-tools,
// and of 999999999999, an account CSPM does not list; staging-web has none.
// It also lists an S3 bucket.
func DemoFixtures(s *Sim) {
	healthy := func(id, name string, regions ...string) Account {
		return Account{
			ID: id, Name: name, Type: "commercial",
			RoleARN: roleARNFor(id, DefaultReaderRole), ExternalID: deriveExternalID(id), IntermediateRoleARN: cspmConnector,
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

	org := Organization{ID: "o-demoorg0001", FirstAccount: 121212121210, Size: 4}.Accounts()
	for i, a := range []struct {
		name    string
		regions []string
	}{{"org-management", []string{"us-east-1"}}, {"org-prod-api", []string{"us-east-1", "eu-west-1"}},
		{"org-prod-web", []string{"us-east-1", "us-west-2"}}, {"org-new-team", []string{"us-east-1"}}} {
		org[i].Name, org[i].Regions = a.name, a.regions
	}
	orgProdAPI, orgNewTeam := org[1], &org[3]
	orgNewTeam.RegistrationStatus = StatusProvisioned

	china := healthy("131313131313", "china-analytics", "cn-north-1")
	china.Type, china.RoleARN, china.IntermediateRoleARN = "china", "arn:aws-cn:iam::131313131313:role/"+DefaultReaderRole, ""

	s.AddAccounts(payments, checkout, staging, dataLake, brokenTrust, deputy, noExt, noRegions, china)
	s.AddAccounts(org...)
	for _, r := range []struct{ account, region, name string }{
		{payments.ID, "us-east-1", "payments-api"}, {payments.ID, "us-east-1", "payments-worker"},
		{payments.ID, "us-west-2", "payments-api"}, {checkout.ID, "us-east-1", "checkout-web"},
		{dataLake.ID, "ap-southeast-2", "etl"}, {dataLake.ID, "us-west-1", "etl-archive"},
		{brokenTrust.ID, "us-east-1", "batch"}, {deputy.ID, "us-east-1", "tools"}, {orgProdAPI.ID, "us-east-1", "api"},
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
