// Package profile is the fleet-management service of caddy-mdm:
// configuration profiles (named SyncML fragments), the labels that target
// them at devices, and the desired-state rules that decide, per device and
// session, what to deliver, retry, remove or read back.
//
// The rules are pure functions (Validate, Targets.Match, MayOverlap,
// Decide, Settle, Substitute); Service runs them over the store for the
// admin API, the CLI and the web console alike, and the OMA-DM server
// (internal/omadm) calls Decide and Settle in a device's session. The
// package knows nothing of Caddy or HTTP.
//
// State of a (device, profile) pair:
//
//	pending  --session-->  sent  --all top-level commands 2xx-->  applied
//	                        |                                       |
//	                        +--any non-2xx--> failed --retry (<= Retries, next sessions)--> sent
//	applied --verify Get differs--> drifted
//	(any) --profile deleted or device no longer targeted--> removing --> removed
//
// A new profile version (its content hash) starts every targeted device
// over at pending; pending is implicit (a targeted device with no state for
// the version), so applying a profile to a fleet writes no per-device key.
package profile
