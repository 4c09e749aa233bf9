// Package store keeps caddy-mdm's state in a certmagic.Storage: Caddy's file
// system storage by default, or any storage module (Redis, Postgres, ...) a
// cluster shares.
//
// Key layout (every key below the "mdm/" prefix):
//
//	mdm/devices/<DeviceID>/record.json          the device record (Device)
//	mdm/devices/<DeviceID>/inventory.json       what the device reported (Inventory)
//	mdm/devices/<DeviceID>/queue.json           pending commands, in order (Queue)
//	mdm/devices/<DeviceID>/commands/<ID>.json   finished commands with status and results
//	mdm/devices/<DeviceID>/session.json         the OMA-DM session in progress (Session)
//	mdm/devices/<DeviceID>/trace.json           latest exchanges, redacted (Trace; opt-in)
//	mdm/devices/<DeviceID>/history/<time>.json  records replaced by a re-enrollment
//	mdm/certificates/<thumbprint>.json          which device a certificate was issued to
//	mdm/hardware/<HWDevID>.json                 which device ID the hardware enrolled as last
//
// Device IDs become key segments, so only IDs that ValidDeviceID accepts are
// ever stored. Each key is written with one Store call, which the storage
// makes atomic (the file storage writes a temporary file and renames it), so
// a reader never sees half a record. Writes that belong together are ordered
// so that a crash between them repeats work (a command sent twice) rather
// than losing it.
//
// Sessions and admin changes of one device are serialized in process by
// LockDevice. certmagic's distributed locks poll at one-second granularity
// and stay off this hot path, so a cluster should route a device's requests
// to one instance (Caddy's reverse_proxy with a header or cookie policy does).
package store
