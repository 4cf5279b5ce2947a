// Package e2e holds end-to-end tests of Gatehouse: they build the real
// gatehouse binary once, run it as separate processes listening on
// 127.0.0.1, and talk to it over real HTTP and through the CLI, exactly as an
// operator and an API client would. Nothing in-process is shared with the
// server, so these tests catch what unit and in-process tests cannot: flag
// and environment parsing, the bootstrap file on disk, exit codes and
// messages, signal handling, durability across a kill -9, and what the
// process writes to its log.
//
// The package has no non-test code; this file exists so that it is a
// package at all.
package e2e
