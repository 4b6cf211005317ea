package change

// BridgeFunction is the function name under which the bridge files its own
// dead letters (keys it cannot turn into a change); no function may take it.
const BridgeFunction = "bridge"

// Headers of a dead letter (a message on jetsync-dlq.<function>.…), written
// by the function runtime and the bridge and read back by `jetsync dlq` and
// the runtime: the one list of them.
const (
	// HeaderFunction and HeaderVersion name who filed it ("bridge" for keys
	// the bridge could not read).
	HeaderFunction = "Jetsync-Function"
	HeaderVersion  = "Jetsync-Version"
	// HeaderErrorClass is "permanent"; HeaderError the reason, capped.
	HeaderErrorClass = "Jetsync-Error-Class"
	HeaderError      = "Jetsync-Error"
	// HeaderSubject and HeaderStreamSeq are where the change was stored;
	// HeaderDelivered how often it had been delivered.
	HeaderSubject   = "Jetsync-Subject"
	HeaderStreamSeq = "Jetsync-Stream-Seq"
	HeaderDelivered = "Jetsync-Delivered"
	// HeaderTime is when it was filed (RFC 3339, UTC).
	HeaderTime = "Jetsync-Time"
	// HeaderKey and HeaderValueDigest: the bridge's dead letters carry the
	// key and a digest of the value it read, to file a poison key once.
	HeaderKey         = "Jetsync-Key"
	HeaderValueDigest = "Jetsync-Value-Digest"
	// HeaderTruncated is the original size of a body cut to fit the
	// server's max payload.
	HeaderTruncated = "Jetsync-Truncated"
	// HeaderOriginalSeq is the order of a change that is not its own
	// stream sequence (stored late by a superseded bridge, or requeued); a
	// requeued change keeps it, so that it is applied only if nothing newer
	// of its key was. HeaderRequeuedFor names the one function a requeued
	// change is for (other functions of the prefix ack it unapplied).
	HeaderOriginalSeq = "Jetsync-Original-Seq"
	HeaderRequeuedFor = "Jetsync-Requeued-For"
)
