// Package store keeps caddy-mdm's state in a certmagic.Storage: Caddy's file
// system storage by default, or any storage module (Redis, Postgres, ...) a
// cluster shares.
//
// Key layout (every key below the "mdm/" prefix):
//
//	mdm/devices/<DeviceID>/record.json          the device record (Device)
//	mdm/devices/<DeviceID>/inventory.json       what the device reported (Inventory)
//	mdm/devices/<DeviceID>/queue.json           pending commands, in order (Queue)
//	mdm/devices/<DeviceID>/commands/<ID>.json   finished commands with status and results (the newest MaxFinishedCommands)
//	mdm/devices/<DeviceID>/session.json         its OMA-DM sessions still open (Sessions)
//	mdm/devices/<DeviceID>/trace/head.json      which exchanges of the trace ring are live (Trace; opt-in)
//	mdm/devices/<DeviceID>/trace/<slot>.json    one exchange, redacted: slot = sequence mod trace_exchanges
//	mdm/devices/<DeviceID>/history/<time>.json  records replaced by a re-enrollment
//	mdm/certificates/<thumbprint>.json          which device a certificate was issued to, for devices
//	                                            whose ID is not the certificate's common name
//	mdm/hardware/<HWDevID>.json                 which device ID the hardware enrolled as last
//	mdm/index/state/<state>/<shard>/<DeviceID>  "1": the device index (below)
//	mdm/index/version.json                      the index covers records stored before it
//	mdm/nodes/<NodeID>.json                     a cluster node's heartbeat (nodes.go)
//	mdm/devices/<DeviceID>/labels.json          the device's admin and automatic labels (labels.go)
//	mdm/devices/<DeviceID>/profiles.json        its state for each profile (profiles_state.go)
//	mdm/devices/<DeviceID>/actions.json         wipes and reboots asked for it (actions.go)
//	mdm/labels/<label>/<DeviceID>               "1": the label index, one listing per label
//	mdm/profiles.json                           every profile's name, version and targets
//	mdm/profiles/<name>/profile.json            a profile's content (Profile)
//	mdm/profiles/<name>/status/<version>/<state>/<DeviceID>
//	                                            "1": counts and lists per state, no record read
//	mdm/secrets/<name>                          server secrets every node shares (secret.go);
//	mdm/secrets/tls-ticket-keys/<period>        TLS ticket keys, one per 12 h, deleted after use
//	mdm/tokens/spent/<exp>-<sha256(jti)>        spent federated login tokens (internal/fedtoken)
//
// Device IDs become key segments, so only IDs that ValidDeviceID accepts are
// ever stored. Each key is written with one Store call, which the storage
// makes atomic (the file storage writes a temporary file and renames it;
// Redis a SET), so a reader never sees half a record. Writes that belong
// together are ordered so that a crash between them repeats work (a
// command sent twice) rather than losing it. A storage failure is returned
// as ErrUnavailable (answered 503 with Retry-After), never as "not found".
//
// # Device index
//
// Listing, paging and counting devices never read the device directory nor
// every record. Each device has one index key under its state, sharded by
// the first two characters of its DeviceID (256 shards for Windows' hex
// IDs, about N/256 devices each). Prefix shards keep DeviceID order across
// shards, so a cursor (the last ID of a page) names the shard to resume in.
// PutDevice keeps the index in step when the state changes (the new entry
// first, then the record, then the old entry: a crash lists a device under
// its record's state only, see putDeviceIndexed); EnsureIndex indexes
// records stored before the index, once. Cost per operation, N devices,
// S = 256 shards, with caddy-storage-redis (each listing one ZRANGE of a
// directory's sorted set, each load one GET):
//
//	ListDevices, one page of L          per state filtered: 1 listing of the shard names (≤ S)
//	                                    + 1 listing per shard the page spans (~N/S names)
//	                                    + L record loads (16 in parallel); never O(N) records
//	DeviceStateCounts                   per state: 1 listing of shard names + S counts,
//	                                    pipelined ZCARDs in one round trip (KeyCounter);
//	                                    without KeyCounter, S listings (O(N) names, no records)
//	PutDevice, state unchanged          1 write (the record), as before the index
//	PutDevice, state changed            3 writes (entry, record, old entry deleted)
//	Labels / profile targets            the label index of labels.go (one listing per label)
//
// Measured at 1,000,000 devices in Redis: see the README's Cluster section.
//
// # Locks and what is cached
//
// Work on one device (an OMA-DM message, an enrollment, an admin change) is
// serialized by LockDeviceCtx: a mutex in process, then, where the storage
// is shared, the storage's own Lock on "mdm/devices/<ID>" for the duration
// of that one message (locks.go: two Redis round trips uncontended, a 5 s
// TTL so a dead node's lock expires, a bounded wait answered with 503).
// Every decision reads its state from storage under that lock: the device
// record (state, certificate, digest nonce: a nonce accepted on one node is
// rotated before any other node can check it), the queue and the session.
// Nothing a decision depends on is cached across messages, so an admin
// change on one node (enqueue, cancel, retire) applies to the very next
// message on any other. Two things are per node, with a bound: the
// last-seen time of sessions that ended quietly (written every 30 s and
// at shutdown: another node's view of "last seen" lags by at most that),
// and certauth's memory of verified certificate chains (the binding to the
// device record is checked against storage on every message).
package store
