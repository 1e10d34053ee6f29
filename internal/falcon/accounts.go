package falcon

import (
	"context"
	"fmt"

	cspm "github.com/crowdstrike/gofalcon/falcon/client/cloud_aws_registration"
	"github.com/crowdstrike/gofalcon/falcon/models"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// API page sizes: the CSPM query endpoint serves at most 500 IDs a page and
// the entity endpoints take at most 100 IDs a call.
const (
	queryLimit = 500
	batchSize  = 100
)

const (
	accountsQuery    = "GET /cloud-security-registration-aws/queries/account/v1"
	accountsEntities = "GET /cloud-security-registration-aws/entities/account/v1"
)

// Accounts implements onboard.Falcon: every AWS account registered with CSPM.
// IDs the entity endpoint does not return (207) come back as accounts with
// no credential, which the plan skips with a reason.
func (c *Client) Accounts(ctx context.Context) ([]onboard.Account, error) {
	ids, err := allIDs(ctx, queryLimit, c.concurrency, func(ctx context.Context, offset int64) (page, error) {
		p := cspm.NewCloudRegistrationAwsQueryAccountsParamsWithContext(ctx)
		p.Limit, p.Offset = ptr(int64(queryLimit)), &offset
		ok, multi, err := c.cspm.CloudRegistrationAwsQueryAccounts(p)
		if err != nil {
			return page{}, readError("listing CSPM accounts", accountsQuery, err)
		}
		var payload *models.RestAWSAccountQueryResponseExtV1
		if ok != nil {
			payload = ok.Payload
		} else if multi != nil {
			payload = multi.Payload
		}
		if payload == nil || payload.Resources == nil {
			return page{}, malformed(accountsQuery, "no resources")
		}
		return page{ids: payload.Resources, total: total(payload.Meta)}, nil
	})
	if err != nil {
		return nil, err
	}
	return inBatches(ctx, ids, batchSize, c.concurrency, c.accountBatch)
}

func (c *Client) accountBatch(ctx context.Context, ids []string) ([]onboard.Account, error) {
	p := cspm.NewCloudRegistrationAwsGetAccountsParamsWithContext(ctx)
	p.Ids = ids
	ok, multi, err := c.cspm.CloudRegistrationAwsGetAccounts(p)
	if err != nil {
		return nil, readError("reading CSPM accounts", accountsEntities, err)
	}
	var payload *models.RestAWSAccountCreateResponseExtV1
	if ok != nil {
		payload = ok.Payload
	} else if multi != nil {
		payload = multi.Payload // 207: some IDs unknown; use what came back
	}
	if payload == nil {
		return nil, malformed(accountsEntities, "empty body")
	}
	found := map[string]bool{}
	var out []onboard.Account
	for i, r := range payload.Resources {
		if r == nil {
			return nil, malformed(accountsEntities, fmt.Sprintf("resources[%d] is null", i))
		}
		a := onboard.Account{
			ID: r.AccountID, Name: r.AccountName, Type: r.AccountType,
			OrganizationID: r.OrganizationID, Regions: r.ActiveRegions,
		}
		if m := r.ResourceMetadata; m != nil {
			a.RoleARN, a.ExternalID, a.CSPMPrincipal = m.IamRoleArn, m.ExternalID, m.IntermediateRoleArn
		}
		found[a.ID] = true
		out = append(out, a)
	}
	for _, id := range ids {
		if !found[id] {
			out = append(out, onboard.Account{ID: id}) // listed but not returned
		}
	}
	return out, nil
}

func total(m *models.MsaMetaInfo) int64 {
	if m == nil || m.Pagination == nil || m.Pagination.Total == nil {
		return -1
	}
	return *m.Pagination.Total
}

func ptr[T any](v T) *T { return &v }
