package enroll

import (
	"fmt"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// checkManualRenewal decides a renewal sent without a TLS client
// certificate, whose PKCS#7 proves nothing about who sends it: anyone who
// saw the request once can send it again.
//
//   - The authenticated user (password, federated token or Entra token)
//     must be the device's user: another account renewing a device's
//     certificate would replace the certificate the device holds.
//   - The signer must be the device's current certificate. A request signed
//     by the previous one (the lost-answer retry) is a ROBO privilege: there
//     the TLS handshake proves the sender holds the signer's key. Manually,
//     it would let a replay of an answered request issue a third
//     certificate and strand the one the device holds; and since answering
//     a request makes its signer the previous certificate, a manual renewal
//     request is in effect single-use.
//
// Refusals are Authorization (0x80180003) faults, logged with the cause.
func checkManualRenewal(dev *store.Device, user string, binding certauth.Binding) error {
	if !strings.EqualFold(strings.TrimSpace(user), strings.TrimSpace(dev.User)) || user == "" {
		return soap.NewFault(soap.Authorization,
			fmt.Errorf("manual renewal of device %s by %q, which %q enrolled", dev.DeviceID, user, dev.User),
			"Only the user who enrolled this device can renew its certificate.")
	}
	if binding != certauth.Current {
		return soap.NewFault(soap.Authorization,
			fmt.Errorf("manual renewal of device %s signed by its previous certificate (already renewed; a retry needs the certificate in the TLS handshake)", dev.DeviceID),
			"This certificate was already renewed; use the renewed certificate.")
	}
	return nil
}
