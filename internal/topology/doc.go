// Package topology holds the topology test (`make test-topology`): the production shape on
// one machine, Temporal's own server on PostgreSQL, two API processes and two workers
// built from ./api and ./worker, under steady load while processes are killed and keys
// revoked, then checked for lost, duplicated and unevaluated work.
package topology
