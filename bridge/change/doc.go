// Package change is the contract between the bridge and the handler functions:
// the versioned JSON body of one change of one Redis key, and the JetStream
// subject it travels on.
//
// A key is "<prefix>:<id>"; the id is everything after the first ':' and may
// itself hold ':'. The subject of a change is "jetsync.<prefix>.<id-token>",
// where the id token is the id itself when it is a safe subject token and a
// reversible encoding of it otherwise (see [Subject] and [ParseSubject]).
// A handler filters on [Filter] ("jetsync.<prefix>.>").
package change
