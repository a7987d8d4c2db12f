// Package errkind gives an error the kind of a sentinel, for errors.Is,
// without changing its message: lstmq's messages name the file, the place
// and the problem, and the sentinel only classifies them.
package errkind
