package caddymdm

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func parseStorage(d *caddyfile.Dispenser) ([]byte, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "caddy.storage."+name)
	if err != nil {
		return nil, err
	}
	if _, ok := unm.(caddy.StorageConverter); !ok {
		return nil, d.Errf("module %s is not a storage module", name)
	}
	return caddyconfig.JSONModuleObject(unm, "module", name, nil), nil
}

func parseAuth(d *caddyfile.Dispenser) (*AuthConfig, error) {
	c := new(AuthConfig)
	if !d.NextArg() {
		return nil, d.Err("auth needs a policy: on_premise, federated, entra or certificate")
	}
	c.Policy = d.Val()
	if c.Policy == authEntra {
		var err error
		c.Entra, err = parseEntraAuth(d)
		return c, err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "user":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return nil, d.Err("user needs a name and a bcrypt or argon2id hash (make one with `caddy hash-password`)")
			}
			c.Users = append(c.Users, User{Username: args[0], Password: args[1]})
		case "user_failures":
			c.UserFailures, err = parseFailureLimit(d)
		case "client_failures":
			c.ClientFailures, err = parseFailureLimit(d)
		case "failure_keys":
			err = intArg(d, &c.FailureKeys)
		case "authentication_service_url":
			err = oneArg(d, &c.AuthenticationServiceURL)
		case "token_secret":
			err = oneArg(d, &c.TokenSecret)
		case "token_lifetime":
			err = durationArg(d, &c.TokenLifetime)
		case "oidc":
			c.OIDC, err = parseOIDC(d)
		case "trusted_ca_cert_file":
			var f string
			err = oneArg(d, &f)
			c.TrustedCACertFiles = append(c.TrustedCACertFiles, f)
		default:
			return nil, d.Errf("auth: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseFailureLimit reads "<burst> <interval>" or "off".
func parseFailureLimit(d *caddyfile.Dispenser) (*FailureLimit, error) {
	key := d.Val()
	args := d.RemainingArgs()
	if len(args) == 1 && args[0] == "off" {
		return &FailureLimit{Off: true}, nil
	}
	if len(args) != 2 {
		return nil, d.Errf("%s needs <burst> <interval>, or off", key)
	}
	burst, err := strconv.Atoi(args[0])
	if err != nil || burst < 1 {
		return nil, d.Errf("%s: burst %q is not a positive number", key, args[0])
	}
	dur, err := caddy.ParseDuration(args[1])
	if err != nil || dur <= 0 {
		return nil, d.Errf("%s: %q is not a positive duration", key, args[1])
	}
	return &FailureLimit{Burst: burst, Interval: caddy.Duration(dur)}, nil
}

func parseDeviceCA(d *caddyfile.Dispenser) (*DeviceCAConfig, error) {
	c := new(DeviceCAConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "pki_ca":
			err = oneArg(d, &c.PKICA)
		case "sign_with":
			err = oneArg(d, &c.SignWith)
		case "cert_file":
			err = oneArg(d, &c.CertFile)
		case "key_file":
			err = oneArg(d, &c.KeyFile)
		case "root_cert_file":
			err = oneArg(d, &c.RootCertFile)
		case "key_type":
			err = oneArg(d, &c.KeyType)
			if err == nil && checkKeyType(c.KeyType) != nil {
				err = d.Errf("device_ca: %v", checkKeyType(c.KeyType))
			}
		default:
			return nil, d.Errf("device_ca: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parseRetry(d *caddyfile.Dispenser) (*RetryConfig, error) {
	c := new(RetryConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "count":
			err = intArg(d, &c.Count)
		case "initial_backoff":
			err = durationArg(d, &c.InitialBackoff)
		case "max_backoff":
			err = durationArg(d, &c.MaxBackoff)
		default:
			return nil, d.Errf("retry: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parsePoll(d *caddyfile.Dispenser) (*PollConfig, error) {
	c := new(PollConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "first_set":
			err = countInterval(d, &c.FirstRetries, &c.FirstInterval)
		case "second_set":
			err = countInterval(d, &c.SecondRetries, &c.SecondInterval)
		case "remaining_set":
			err = countInterval(d, &c.RemainingRetries, &c.RemainingInterval)
		case "on_login":
			var b bool
			err = boolArg(d, &b)
			c.OnLogin = &b
		default:
			return nil, d.Errf("poll: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parseWP8(d *caddyfile.Dispenser) (*WP8Config, error) {
	c := new(WP8Config)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "mode":
			err = oneArg(d, &c.Mode)
		case "oma_dm_retry":
			args := d.RemainingArgs()
			if len(args) != 6 {
				return nil, d.Err("oma_dm_retry needs six numbers: num interval aux_num aux_interval aux2_num aux2_interval")
			}
			dst := []*int{&c.NumRetries, &c.RetryInterval, &c.AuxNumRetries, &c.AuxRetryInterval, &c.Aux2NumRetries, &c.Aux2RetryInterval}
			for i, a := range args {
				if *dst[i], err = strconv.Atoi(a); err != nil {
					return nil, d.Errf("oma_dm_retry: %q is not a number", a)
				}
			}
		case "aetx_file":
			err = oneArg(d, &c.AETXFile)
		case "enterprise_id":
			err = oneArg(d, &c.EnterpriseID)
		case "enrollment_token":
			err = oneArg(d, &c.EnrollmentToken)
		case "store_product_id":
			if !d.NextArg() {
				return nil, d.Err("store_product_id needs the company hub's ProductID (from its WMAppManifest.xml), e.g. {$MDM_HUB_PRODUCT_ID}")
			}
			d.Prev()
			err = oneArg(d, &c.StoreProductID)
		case "store_uri":
			err = oneArg(d, &c.StoreURI)
		case "store_display_name":
			err = oneArg(d, &c.StoreDisplayName)
		case "crl_check":
			err = boolArg(d, &c.CRLCheck)
		default:
			return nil, d.Errf("windows_phone8: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
