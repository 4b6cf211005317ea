// Package mysql is the MySQL and MariaDB connector (go-sql-driver/mysql).
//
// A write is one transaction: runs of upserts of one table become multi-row
// INSERT ... ON DUPLICATE KEY UPDATE statements that update only the columns
// named (other columns keep their values), runs of deletes become
// DELETE ... WHERE key IN (...). Every identifier is quoted and every value is
// a parameter. The password is read from JETSYNC_MYSQL_PASSWORD or
// JETSYNC_MYSQL_PASSWORD_FILE each time a connection is opened, so a rotated
// secret is picked up without a restart.
package mysql
