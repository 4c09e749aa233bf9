package emulator

import (
	"encoding/base64"

	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// Entra ID enrollment, as Windows does it after Entra join or when a work
// account is added: the access token Entra issued for the MDM application
// goes, base64-encoded, into a BinarySecurityToken of ValueType
// urn:ietf:params:oauth:token-type:jwt (Options.JWT); an Entra join
// enrolls the device (Options.EnrollmentType Device); the terms-of-use
// page's OpaqueBlob comes back as the EnrollmentData context item
// (Options.EnrollmentData); and sessions announce the signed-in user's
// token in Alert 1224 com.microsoft/MDM/AADUserToken
// (Options.AADUserToken).

// entraSecurity is the wsse:Security header carrying an Entra access token.
func entraSecurity(jwt string) string {
	return `<wsse:Security s:mustUnderstand="1"><wsse:BinarySecurityToken ValueType="` + soap.ValueTypeJWT +
		`" EncodingType="` + soap.EncodingTypeBase64Binary + `">` +
		base64.StdEncoding.EncodeToString([]byte(jwt)) + `</wsse:BinarySecurityToken></wsse:Security>`
}

// aadUserTokenAlert is the Alert 1224 of package 1 naming the signed-in
// Entra user by token.
func aadUserTokenAlert(token string) *syncml.Command {
	return &syncml.Command{Name: syncml.CmdAlert, Data: syncml.AlertClientEvent,
		Items: []*syncml.Item{{Meta: &syncml.Meta{Type: omadm.AADUserTokenType}, Data: token, HasData: true}}}
}
