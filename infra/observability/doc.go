// Package observability holds jetsync's Prometheus rules (rules.yml, with
// promtool unit tests in rules_test.yml) and a Grafana dashboard
// (dashboard.json). Its tests run promtool and check that every metric the
// rules and the dashboard name is one the code exports.
package observability
