// Package functions holds what gets deployed next to the bridge: the generic
// env-configured table function (functions/table) and examples of custom
// functions written on the handlers API.
package functions
