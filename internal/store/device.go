package store

import (
	"strings"
	"time"
)

// Device is what the server knows of one enrolled device. The digest secrets
// are credentials: never log a Device or return it from an API unredacted.
type Device struct {
	DeviceID           string         `json:"device_id"`
	HWDevID            string         `json:"hw_dev_id,omitempty"`
	DeviceName         string         `json:"device_name,omitempty"`
	DeviceType         string         `json:"device_type,omitempty"`
	OSVersion          string         `json:"os_version,omitempty"`
	OSEdition          string         `json:"os_edition,omitempty"`
	ApplicationVersion string         `json:"application_version,omitempty"`
	Locale             string         `json:"locale,omitempty"`
	MACs               []string       `json:"macs,omitempty"`
	EnrollmentType     EnrollmentType `json:"enrollment_type"`
	// WindowsPhone8 records that the device got the Windows Phone 8 document.
	WindowsPhone8 bool `json:"windows_phone8,omitempty"`
	// User is the authenticated identity that enrolled the device.
	User string `json:"user"`
	// EntraTenantID and EntraObjectID are, for an Entra ID enrollment, the
	// tenant (tid) and the user's object ID (oid) of the access token.
	EntraTenantID string `json:"entra_tenant_id,omitempty"`
	EntraObjectID string `json:"entra_object_id,omitempty"`
	// AuthPolicy is how that identity was proven.
	AuthPolicy AuthPolicy  `json:"auth_policy"`
	State      DeviceState `json:"state"`
	// StateReason says why the device left the enrolled state.
	StateReason string    `json:"state_reason,omitempty"`
	EnrolledAt  time.Time `json:"enrolled_at"`
	UpdatedAt   time.Time `json:"updated_at"`

	Certificate Certificate `json:"certificate"`
	// PreviousCertificate is the certificate a renewal replaced; it keeps
	// authenticating until the device has used the new one.
	PreviousCertificate *Certificate  `json:"previous_certificate,omitempty"`
	Digest              DigestSecrets `json:"digest"`

	// indexed is the state the device index holds the record under, as
	// read from storage ("" for a record built in memory): PutDevice
	// touches the index only when the state changed.
	indexed DeviceState
}

// EnrollmentType is what enrolled (MS-MDE2 AdditionalContext
// EnrollmentType): a user's account on the device (Full), whose certificate
// goes to the user's store, or the device itself (Device), to the system's.
type EnrollmentType string

// Enrollment types.
const (
	EnrollmentFull   EnrollmentType = "Full"
	EnrollmentDevice EnrollmentType = "Device"
)

// AuthPolicy is how the enrolling identity proved itself, as discovery
// announces it (MS-MDE2 AuthPolicy).
type AuthPolicy string

// Authentication policies.
const (
	PolicyOnPremise   AuthPolicy = "OnPremise"
	PolicyFederated   AuthPolicy = "Federated"
	PolicyCertificate AuthPolicy = "Certificate"
)

// DeviceState is where a device is in its life: enrolled (managed), or out
// of management, by its user (unenrolled) or by an admin (retired).
type DeviceState string

// Device states.
const (
	StateEnrolled   DeviceState = "enrolled"
	StateUnenrolled DeviceState = "unenrolled"
	StateRetired    DeviceState = "retired"
)

// Certificate identifies the client certificate issued to a device.
type Certificate struct {
	// Serial is the serial number in upper-case hex.
	Serial string `json:"serial"`
	// Thumbprint is the upper-case hex SHA-1 of the DER certificate.
	Thumbprint string    `json:"thumbprint"`
	Subject    string    `json:"subject"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
}

// DigestSecrets are the OMA-DM MD5 digest credentials given to the device in
// its provisioning document.
type DigestSecrets struct {
	// ClientSecret is AAUTHSECRET of APPAUTH CLIENT: the server proves
	// itself to the device with it (the name is the provider ID).
	ClientSecret string `json:"client_secret"`
	// ClientNonce is the latest nonce the device gave the server (base64).
	ClientNonce string `json:"client_nonce"`
	// ClientNextNonce is a nonce the device gave in a Status that accepted
	// the server's message (200, 212): Windows renews the server's nonce
	// that way in every session, for the next one, where it replaces
	// ClientNonce. A challenge (401, 407) replaces ClientNonce at once.
	ClientNextNonce string `json:"client_next_nonce,omitempty"`
	// ServerName and ServerSecret are AAUTHNAME and AAUTHSECRET of APPAUTH
	// APPSRV: the device proves itself to the server with them.
	ServerName   string `json:"server_name"`
	ServerSecret string `json:"server_secret"`
	// ServerNonce is the nonce the device must use next (base64).
	ServerNonce string `json:"server_nonce"`
	// ClientChallenged is set once the device has challenged the server:
	// from then on every reply carries Cred over ClientNonce (P13).
	ClientChallenged bool `json:"client_challenged,omitempty"`
}

// Redacted returns a copy whose secrets are replaced by a marker, for logs
// and APIs.
func (d Device) Redacted() Device {
	const r = "REDACTED"
	if d.Digest.ClientSecret != "" {
		d.Digest.ClientSecret = r
	}
	if d.Digest.ServerSecret != "" {
		d.Digest.ServerSecret = r
	}
	return d
}

// ValidOSVersion reports whether v reads as a Windows build number (such
// as 10.0.19043.2364): 2 to 4 dot-separated numbers, at most 32 bytes.
// Versions devices report later (a renewal's context, ./DevDetail/SwV)
// replace the one from enrollment only if they do.
func ValidOSVersion(v string) bool {
	if len(v) == 0 || len(v) > 32 {
		return false
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
