// Package entra verifies the Microsoft Entra ID (Azure AD) access tokens
// Windows presents when it enrolls through Entra join or a work account:
// as the BinarySecurityToken of GetPolicies and RequestSecurityToken
// (ValueType urn:ietf:params:oauth:token-type:jwt), as the bearer token of
// the terms-of-use page, and in OMA-DM Alert 1224
// (com.microsoft/MDM/AADUserToken).
//
// A token is accepted only when every check passes, in this order, each
// refusal naming the check (Error.Check):
//
//   - format: a compact JWS of at most MaxTokenSize bytes;
//   - algorithm: RS256 and nothing else (never "none", never HS256, whose
//     "secret" an attacker would take from the public key);
//   - key: the header's kid (or x5t) names a key of the configured JWKS
//     (Microsoft's published keys by default); an unknown kid refetches the
//     set once, at most once per KeySet.MinRefetch;
//   - signature: verified by go-jose with that RSA key;
//   - expiry and not-before, with a small leeway (Verifier.Leeway);
//   - tenant: tid is one of the configured tenants, so a token of another
//     tenant (an attacker's own, signed by the same Microsoft keys) never
//     enrolls (the bug of Fleet's CVE-2026-24899);
//   - issuer: iss is https://sts.windows.net/<tid>/ for a v1 token or
//     https://login.microsoftonline.com/<tid>/v2.0 for a v2 token, with the
//     token's own tid, and the form agrees with the ver claim when present;
//   - audience: aud is one of the configured audiences (the App ID URI for
//     v1 tokens, the application's client ID for v2 tokens);
//   - scope: scp holds mdm_delegation;
//   - claims: an object ID and a user (upn, else preferred_username).
//
// The package knows nothing of SOAP, SyncML or Caddy; tokens are bearer
// credentials and never appear in its errors.
package entra
