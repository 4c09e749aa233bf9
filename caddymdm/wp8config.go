package caddymdm

import (
	"errors"
	"fmt"

	"github.com/caddy-mdm/caddy-mdm/internal/aet"
	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
)

// WP8Config holds the Windows Phone 8 settings: when the phone flavour of the
// provisioning document is used, its OmaDmRetry schedule, and the company
// hub (EnterpriseAppManagement) enrollment.
type WP8Config struct {
	// auto (default: from the device's DeviceType and ApplicationVersion),
	// always or never.
	Mode string `json:"mode,omitempty"`

	// The OmaDmRetry registry values below (HKLM\Security\MachineEnrollment\OmaDmRetry)
	// are the phone's session retry schedule; AuxNumRetries and
	// AuxRetryInterval must be > 0 or the first session never happens.
	// Intervals are in minutes; 0 (or less) keeps the default.
	//
	// How many times the phone retries a failed session in the first set
	// (NumRetries). Default: 8.
	NumRetries int `json:"num_retries,omitempty"`
	// Minutes between the retries of the first set (RetryInterval).
	// Default: 15.
	RetryInterval int `json:"retry_interval,omitempty"`
	// How many retries the second set has (AuxNumRetries). Default: 10.
	AuxNumRetries int `json:"aux_num_retries,omitempty"`
	// Minutes between the retries of the second set (AuxRetryInterval).
	// Default: 15.
	AuxRetryInterval int `json:"aux_retry_interval,omitempty"`
	// How many retries the third set has (Aux2NumRetries). Default: 0.
	Aux2NumRetries int `json:"aux2_num_retries,omitempty"`
	// Minutes between the retries of the third set (Aux2RetryInterval).
	// Default: 480.
	Aux2RetryInterval int `json:"aux2_retry_interval,omitempty"`

	// The application enrollment token file (.aetx) from AETGenerator; its
	// Enterprise ID and token go into EnterpriseAppManagement.
	AETXFile string `json:"aetx_file,omitempty"`
	// The Enterprise ID, when not read from aetx_file (with a file, it must
	// match it). It goes with enrollment_token; without both, no
	// EnterpriseAppManagement node is sent. Default: none.
	EnterpriseID string `json:"enterprise_id,omitempty"`
	// The application enrollment token, when not read from aetx_file (with
	// a file, it must match it). It goes with enterprise_id. Default: none.
	EnrollmentToken string `json:"enrollment_token,omitempty"`
	// The company hub's product ID (StoreProductId); required for company
	// app enrollment. Default: none.
	StoreProductID string `json:"store_product_id,omitempty"`
	// The URL the phone downloads the company hub from (StoreUri), e.g. an
	// mdm_hub path; required for company app enrollment. Default: none.
	StoreURI string `json:"store_uri,omitempty"`
	// The company hub's name shown on the phone (StoreDisplayName).
	// Default: none (not sent).
	StoreDisplayName string `json:"store_display_name,omitempty"`
	// Whether the phone checks revocation of the hub's certificate chain.
	// Default false: most private CAs publish no reachable CRL.
	CRLCheck bool `json:"crl_check,omitempty"`
}

type wp8Settings struct {
	mode  enroll.WP8Mode
	retry provdoc.OmaDmRetry
	app   *provdoc.EnterpriseApp
}

func (c *WP8Config) settings() (wp8Settings, error) {
	s := wp8Settings{mode: enroll.WP8Auto, retry: enroll.DefaultOmaDmRetry}
	if c == nil {
		return s, nil
	}
	if c.Mode != "" {
		s.mode = enroll.WP8Mode(c.Mode)
	}
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	set(&s.retry.NumRetries, c.NumRetries)
	set(&s.retry.RetryInterval, c.RetryInterval)
	set(&s.retry.AuxNumRetries, c.AuxNumRetries)
	set(&s.retry.AuxRetryInterval, c.AuxRetryInterval)
	set(&s.retry.Aux2NumRetries, c.Aux2NumRetries)
	set(&s.retry.Aux2RetryInterval, c.Aux2RetryInterval)
	if c.AETXFile != "" {
		tok, err := aet.ReadFile(c.AETXFile)
		if err != nil {
			return s, err
		}
		if c.EnterpriseID != "" && c.EnterpriseID != tok.EnterpriseID {
			return s, fmt.Errorf("enterprise_id %q does not match the Enterprise ID %q of %s: remove enterprise_id or fix it", c.EnterpriseID, tok.EnterpriseID, c.AETXFile)
		}
		if c.EnrollmentToken != "" && c.EnrollmentToken != tok.EnrollmentToken {
			return s, fmt.Errorf("enrollment_token does not match the token of %s: remove enrollment_token", c.AETXFile)
		}
		c.EnterpriseID, c.EnrollmentToken = tok.EnterpriseID, tok.EnrollmentToken
	}
	switch {
	case c.EnterpriseID != "" && c.EnrollmentToken != "":
		if c.StoreProductID == "" || c.StoreURI == "" {
			return s, errors.New("company app enrollment needs store_product_id and store_uri (the company hub's product ID and its mdm_hub download URL)")
		}
		s.app = &provdoc.EnterpriseApp{
			EnterpriseID:     c.EnterpriseID,
			EnrollmentToken:  c.EnrollmentToken,
			StoreProductID:   c.StoreProductID,
			StoreURI:         c.StoreURI,
			StoreDisplayName: c.StoreDisplayName,
			CRLCheck:         c.CRLCheck,
		}
	case c.EnterpriseID != "" || c.EnrollmentToken != "":
		return s, errors.New("enterprise_id and enrollment_token go together (both come from the .aetx file)")
	}
	return s, nil
}
