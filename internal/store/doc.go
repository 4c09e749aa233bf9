// Package store keeps caddy-mdm's state in a certmagic.Storage: Caddy's file
// system storage by default, or any storage module (Redis, Postgres, ...) a
// cluster shares.
//
// Key layout (every key below the "mdm/" prefix):
//
//	mdm/devices/<DeviceID>.json   the device record (JSON, see Device)
//
// Device IDs become key segments, so only IDs that ValidDeviceID accepts are
// ever stored. Each record is written with one Store call, which the
// storage makes atomic (the file storage writes a temporary file and renames
// it), so a reader never sees half a record.
package store
