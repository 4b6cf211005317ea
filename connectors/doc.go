// Package connectors holds one package per kind of target database. Each
// returns a concrete *Sink that satisfies handlers.Sink: it writes a list of
// row upserts and deletes in one transaction and classifies its driver's
// errors into transient (retried) and permanent (dead-lettered).
package connectors
