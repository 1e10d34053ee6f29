package falcon

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/crowdstrike/gofalcon/falcon/client/oauth2"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
)

// cloudHosts are the API gateways of the Falcon clouds.
var cloudHosts = map[string]string{
	"us-1":     "api.crowdstrike.com",
	"us-2":     "api.us-2.crowdstrike.com",
	"eu-1":     "api.eu-1.crowdstrike.com",
	"us-gov-1": "api.laggar.gcw.crowdstrike.com",
	"us-gov-2": "api.us-gov-2.crowdstrike.mil",
}

// Clouds are the FALCON_CLOUD values this tool accepts.
var Clouds = []string{"autodiscover", "us-1", "us-2", "eu-1", "us-gov-1", "us-gov-2"}

// discoveryHost is asked for a token to learn the tenant's cloud (tests
// point it at the simulator).
var discoveryHost = cloudHosts["us-1"]

// resolveHost returns the API host for cfg.Cloud; for autodiscover it asks
// us-1 for a token and reads the X-Cs-Region header of the answer.
func resolveHost(ctx context.Context, cfg Config, hc *http.Client) (string, error) {
	cloud := strings.ToLower(strings.TrimSpace(cfg.Cloud))
	if cloud != "" && cloud != "autodiscover" {
		host, ok := cloudHosts[cloud]
		if !ok {
			return "", fmt.Errorf("falcon: unknown cloud %q (want one of %s)", cfg.Cloud, strings.Join(Clouds, ", "))
		}
		return host, nil
	}
	rt := httptransport.NewWithClient(discoveryHost, "/", []string{"https"}, hc)
	params := oauth2.NewOauth2AccessTokenParamsWithContext(ctx)
	params.ClientID, params.ClientSecret = cfg.ClientID, cfg.ClientSecret
	if cfg.MemberCID != "" {
		params.MemberCid = &cfg.MemberCID
	}
	tok, err := oauth2.New(rt, strfmt.Default).Oauth2AccessToken(params)
	if err != nil {
		return "", fmt.Errorf("autodiscovering the Falcon cloud (FALCON_CLOUD=autodiscover asks %s): %w", discoveryHost, tokenError(err, ""))
	}
	region := strings.ToLower(tok.XCSRegion)
	host, ok := cloudHosts[region]
	if !ok {
		return "", fmt.Errorf("falcon: autodiscovery answered unknown cloud %q; set FALCON_CLOUD", tok.XCSRegion)
	}
	return host, nil
}

// isGovCloud reports whether the tenant is in a Falcon GovCloud: by its
// configured cloud, or by the API host it resolved to.
func isGovCloud(cloud, host string) bool {
	cloud = strings.ToLower(strings.TrimSpace(cloud))
	return strings.HasPrefix(cloud, "us-gov-") || host == cloudHosts["us-gov-1"] || host == cloudHosts["us-gov-2"]
}
