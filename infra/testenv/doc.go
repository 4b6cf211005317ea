// Package testenv gives tests the real servers they run against: an embedded
// NATS JetStream server, Redis, MariaDB and PostgreSQL on loopback, a TCP
// proxy that can cut a connection, and unique names so that parallel tests
// never share a prefix, stream, consumer or table.
//
// Addresses default to the local services that infra/local/up.sh starts and
// can be overridden with JETSYNC_TEST_REDIS_ADDR, JETSYNC_TEST_MYSQL_ADDR and
// JETSYNC_TEST_POSTGRES_ADDR.
package testenv
