package falcon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	csa "github.com/crowdstrike/gofalcon/falcon/client/cloud_security_assets"
	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/runtime"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// The cloud asset inventory (gofalcon's cloud_security_assets), read only
// with REGION_SOURCE=ecr-inventory.
const (
	assetsQuery    = "GET /cloud-security-assets/queries/resources/v1"
	assetsEntities = "POST /cloud-security-assets/entities/resources/v1"
	// assetsPageMax is the most IDs the query serves a page (asked for
	// more, it silently serves 1,000); it pages by cursor (offset stops
	// at 10,000).
	assetsPageMax = 1000
	// assetsBatchSize: the entity POST takes 500 IDs a call (the GET 100).
	assetsBatchSize = 500
	// ecrRepositories is the FQL filter of the query.
	ecrRepositories = "resource_type:'AWS::ECR::Repository'"
	ecrResourceType = "AWS::ECR::Repository"
)

// ECRRegions implements onboard.Inventory: for every AWS account, the
// regions where Falcon's cloud asset inventory lists at least one ECR
// repository. The listing is complete or an error (fail closed): every
// page of the query (cursorAll), and every repository it lists read back,
// of which only its account and region are kept.
func (c *Client) ECRRegions(ctx context.Context) (onboard.RepositoryRegions, error) {
	ids, err := cursorAll(ctx, assetsQuery, c.repositoryPage)
	if err != nil {
		return nil, err
	}
	repos, err := inBatches(ctx, ids, assetsBatchSize, c.concurrency, c.repositoryBatch)
	if err != nil {
		return nil, err
	}
	// A repository the query listed but the entity call did not return was
	// deleted meanwhile, or the answer is short: asked once more, it must
	// come back for the listing to be complete.
	if missing := missingIDs(ids, repos, repositoryID); len(missing) > 0 {
		again, err := inBatches(ctx, missing, assetsBatchSize, c.concurrency, c.repositoryBatch)
		if err != nil {
			return nil, err
		}
		if still := missingIDs(missing, again, repositoryID); len(still) > 0 {
			return nil, fmt.Errorf("incomplete listing from %s: %d of %d listed repositories not returned, twice (e.g. %s)",
				assetsEntities, len(still), len(ids), still[0])
		}
		repos = append(repos, again...)
	}
	out := onboard.RepositoryRegions{}
	for _, r := range repos {
		if !slices.Contains(out[r.account], r.region) {
			out[r.account] = append(out[r.account], r.region)
		}
	}
	return out, nil
}

// repository is what a run reads of an ECR repository in the inventory.
type repository struct{ id, account, region string }

func repositoryID(r repository) string { return r.id }

func (c *Client) repositoryPage(ctx context.Context, after string) (cursorPage, error) {
	p := csa.NewCloudSecurityAssetsQueriesParamsWithContext(ctx)
	p.Filter, p.Limit = ptr(ecrRepositories), ptr(int64(assetsPageMax))
	if after != "" {
		p.After = &after
	}
	ok, err := c.assets.CloudSecurityAssetsQueries(p)
	if err != nil {
		return cursorPage{}, inventoryError(assetsQuery, err)
	}
	if ok.Payload == nil || ok.Payload.Resources == nil {
		return cursorPage{}, malformed(assetsQuery, "no resources")
	}
	page := cursorPage{ids: ok.Payload.Resources}
	if m := ok.Payload.Meta; m != nil {
		page.next = m.Next
		if m.Pagination != nil {
			page.total = m.Pagination.Total
		}
	}
	return page, nil
}

// repositoryBatch reads the account and region of the repositories ids (at
// most 500). The POST is a read, so a 5xx or a lost answer is asked again
// with backoff like a GET; the transport never repeats a POST, which
// elsewhere is a create.
func (c *Client) repositoryBatch(ctx context.Context, ids []string) ([]repository, error) {
	p := csa.NewCloudSecurityAssetsEntitiesPostParamsWithContext(ctx)
	p.Body = &models.AssetsGetResourcesRequest{Ids: ids}
	var ok *csa.CloudSecurityAssetsEntitiesPostOK
	var err error
	for attempt := 0; ; attempt++ {
		if ok, err = c.assets.CloudSecurityAssetsEntitiesPost(p, accountAndRegionOnly); err == nil || attempt >= max5xxRetries || !worthAnotherRead(ctx, err) {
			break
		}
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, inventoryError(assetsEntities, err)
	}
	if ok.Payload == nil || ok.Payload.Resources == nil {
		return nil, malformed(assetsEntities, "no resources")
	}
	out := make([]repository, 0, len(ok.Payload.Resources))
	for i, r := range ok.Payload.Resources {
		switch {
		case r == nil || r.ID == "":
			return nil, malformed(assetsEntities, fmt.Sprintf("resources[%d]: missing id", i))
		case r.ResourceType != "" && r.ResourceType != ecrResourceType:
			return nil, malformed(assetsEntities, fmt.Sprintf("resource %s is a %s, not an ECR repository (the query's filter was not applied)", r.ID, r.ResourceType))
		case r.AccountID == "" || r.Region == "":
			return nil, malformed(assetsEntities, fmt.Sprintf("repository %s: missing account_id or region", r.ID))
		}
		out = append(out, repository{id: r.ID, account: r.AccountID, region: r.Region})
	}
	return out, nil
}

// worthAnotherRead: a server error, or no answer at all, while the run
// goes on.
func worthAnotherRead(ctx context.Context, err error) bool {
	var netErr *url.Error
	return ctx.Err() == nil && (statusOf(err) >= 500 || (statusOf(err) == 0 && errors.As(err, &netErr)))
}

// accountAndRegionOnly reads, of a successful entity answer, only what a
// run needs of each resource: its id, type, account and region. The
// inventory returns whole records (configuration, tags, relationships …);
// decoded with gofalcon's model, a field the plan never reads (a timestamp
// in another format, a type that changed) could fail the run, and large
// configurations cost memory. Every other status goes to the generated
// reader.
func accountAndRegionOnly(op *runtime.ClientOperation) {
	next := op.Reader
	op.Reader = runtime.ClientResponseReaderFunc(func(resp runtime.ClientResponse, c runtime.Consumer) (any, error) {
		if resp.Code() != http.StatusOK {
			return next.ReadResponse(resp, c)
		}
		var body struct {
			Errors    []*models.MsaAPIError `json:"errors"`
			Resources []*struct {
				ID           string `json:"id"`
				ResourceType string `json:"resource_type"`
				AccountID    string `json:"account_id"`
				Region       string `json:"region"`
			} `json:"resources"`
		}
		if err := c.Consume(resp.Body(), &body); err != nil {
			return nil, err
		}
		payload := &models.AssetsGetResourcesResponse{Errors: body.Errors}
		if body.Resources != nil {
			payload.Resources = make([]*models.ResourcesCloudResource, len(body.Resources))
		}
		for i, r := range body.Resources {
			if r != nil {
				payload.Resources[i] = &models.ResourcesCloudResource{ID: r.ID, ResourceType: r.ResourceType, AccountID: r.AccountID, Region: r.Region}
			}
		}
		return &csa.CloudSecurityAssetsEntitiesPostOK{Payload: payload}, nil
	})
}

// inventoryError is readError, with the scope the inventory needs named on
// a 401/403.
func inventoryError(endpoint string, err error) error {
	if code := statusOf(err); code == http.StatusUnauthorized || code == http.StatusForbidden {
		return fmt.Errorf("%s: %w (%s; %s)", endpoint, onboard.ErrAccessDenied, statusText(err), onboard.InventoryScopeHint)
	}
	return readError(endpoint, err)
}
