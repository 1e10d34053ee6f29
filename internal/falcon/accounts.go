package falcon

import (
	"context"
	"fmt"
	"time"

	cspm "github.com/crowdstrike/gofalcon/falcon/client/cloud_aws_registration"
	"github.com/crowdstrike/gofalcon/falcon/models"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Page sizes: the largest each endpoint documents. The CSPM account query
// serves at most 500 IDs a page, the registry query 5,000 (both silently
// serve fewer when asked for more, and may serve fewer anyway: see
// listAll); the entity endpoints take at most 100 IDs a call.
const (
	accountsPageMax   = 500
	registriesPageMax = 5000
	batchSize         = 100
)

// The account query's products and features: every account CSPM
// registers. CrowdStrike's current API specification marks both required
// (falconpy's endpoint table, src/falconpy/_endpoint/_cloud_aws_registration.py,
// "cloud-registration-aws-query-accounts": products and features
// "required": True; falconpy's tests/test_cloud_aws_registration.py sends
// both), although gofalcon v0.22.0's parameters leave them optional.
// CrowdStrike's Terraform provider always enables feature iom of product
// cspm when it registers an AWS account ("iom ... is always enabled":
// buildProductsFromModel, internal/fcs/cloud_aws_account.go), so cspm/iom
// selects them all. Both go out as repeated parameters (collectionFormat
// multi), as gofalcon writes them.
var (
	accountsProducts = []string{"cspm"}
	accountsFeatures = []string{"iom"}
)

const (
	accountsQuery    = "GET /cloud-security-registration-aws/queries/account/v1"
	accountsEntities = "GET /cloud-security-registration-aws/entities/account/v1"
)

// Accounts implements onboard.Falcon: every AWS account registered with
// CSPM, complete or an error. Records the entity endpoint does not return
// (207) are asked for once more; an account whose record still does not
// come back is returned with RecordMissing set, for the plan to skip.
func (c *Client) Accounts(ctx context.Context) ([]onboard.Account, error) {
	ids, err := listAll(ctx, accountsQuery, c.concurrency, func(ctx context.Context, offset int64) (page, error) {
		p := cspm.NewCloudRegistrationAwsQueryAccountsParamsWithContext(ctx)
		p.Limit, p.Offset = ptr(int64(accountsPageMax)), &offset
		p.Products, p.Features = accountsProducts, accountsFeatures
		ok, multi, err := c.cspm.CloudRegistrationAwsQueryAccounts(p)
		if err != nil {
			return page{}, readError(accountsQuery, err)
		}
		var payload *models.RestAWSAccountQueryResponseExtV1
		if ok != nil {
			payload = ok.Payload
		} else if multi != nil {
			payload = multi.Payload
		}
		if payload == nil {
			return page{}, malformed(accountsQuery, "empty body")
		}
		return pageOf(accountsQuery, payload.Resources, payload.Meta)
	})
	if err != nil {
		return nil, err
	}
	accounts, missing, err := entities(ctx, c, ids, c.accountBatch, func(a onboard.Account) string { return a.ID })
	if err != nil {
		return nil, err
	}
	for _, id := range missing {
		accounts = append(accounts, onboard.Account{ID: id, RecordMissing: true})
	}
	return accounts, nil
}

// AccountRecords implements onboard.AccountReader: CSPM's records of
// exactly ids, read from the entity endpoint in batches; an ID left out of
// the answer (207) is asked for once more, and one still missing is not
// returned (CSPM has no such account).
func (c *Client) AccountRecords(ctx context.Context, ids []string) ([]onboard.Account, error) {
	accounts, _, err := entities(ctx, c, ids, c.accountBatch, func(a onboard.Account) string { return a.ID })
	return accounts, err
}

// accountBatch reads the records of ids; a 207 answer is used for what it
// returned.
func (c *Client) accountBatch(ctx context.Context, ids []string) ([]onboard.Account, error) {
	p := cspm.NewCloudRegistrationAwsGetAccountsParamsWithContext(ctx)
	p.Ids = ids
	ok, multi, err := c.cspm.CloudRegistrationAwsGetAccounts(p)
	if err != nil {
		return nil, readError(accountsEntities, err)
	}
	var payload *models.RestAWSAccountCreateResponseExtV1
	if ok != nil {
		payload = ok.Payload
	} else if multi != nil {
		payload = multi.Payload
	}
	if payload == nil {
		return nil, malformed(accountsEntities, "empty body")
	}
	out := make([]onboard.Account, 0, len(payload.Resources))
	for i, r := range payload.Resources {
		if r == nil {
			return nil, malformed(accountsEntities, fmt.Sprintf("resources[%d] is null", i))
		}
		a := onboard.Account{
			ID: r.AccountID, Name: r.AccountName, Type: r.AccountType,
			OrganizationID: r.OrganizationID, Regions: r.ActiveRegions,
			RegistrationStatus: r.RegistrationStatus,
		}
		if m := r.ResourceMetadata; m != nil {
			a.RoleARN, a.ExternalID, a.CSPMPrincipal = m.IamRoleArn, m.ExternalID, m.IntermediateRoleArn
		}
		if r.CreatedAt != nil {
			a.RegisteredAt = time.Time(*r.CreatedAt)
		}
		out = append(out, a)
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
