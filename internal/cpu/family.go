package cpu

import (
	"fmt"
	"slices"
	"sync"
)

// Impl is one implementation of a kernel package: its name and the level
// whose instructions it needs.
type Impl struct {
	Name  string
	Level Level
}

// A Family is a kernel package's implementations, best first, with the
// pure-Go reference "generic" last; the package switches its dispatch when
// told through use. The active implementation is the best one that the CPU
// has (Has) and LSTMQ_CPU allows (Cap); tests Select the others.
type Family struct {
	pkg    string
	impls  []Impl
	use    func(name string)
	mu     sync.Mutex
	active string
}

var (
	familiesMu sync.Mutex
	families   []*Family
)

// Register records pkg's implementations, best first (the reference is
// added last), and activates the best one allowed: it calls use with its
// name. Kernel packages call it once, from a package-level variable.
func Register(pkg string, use func(name string), impls ...Impl) *Family {
	f := &Family{pkg: pkg, impls: append(slices.Clone(impls), Impl{"generic", Generic}), use: use}
	for _, im := range f.impls {
		if Has(im.Level) && Allowed(im.Level) {
			f.activate(im.Name)
			break
		}
	}
	familiesMu.Lock()
	families = append(families, f)
	familiesMu.Unlock()
	return f
}

func (f *Family) activate(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active = name
	f.use(name)
}

// Package returns the kernel package's name.
func (f *Family) Package() string { return f.pkg }

// Active returns the name of the implementation in use.
func (f *Family) Active() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

// Available lists the implementations this CPU runs, LSTMQ_CPU aside,
// the reference first.
func (f *Family) Available() []string {
	var names []string
	for _, im := range slices.Backward(f.impls) {
		if Has(im.Level) {
			names = append(names, im.Name)
		}
	}
	return names
}

// Select makes name the implementation in use; it fails if the CPU does
// not run it. It is for tests and benchmarks: kernels read the choice
// without locking, so nothing may run them meanwhile.
func (f *Family) Select(name string) error {
	if !slices.Contains(f.Available(), name) {
		return fmt.Errorf("cpu: %s: no implementation %q on this CPU (have %v)", f.pkg, name, f.Available())
	}
	f.activate(name)
	return nil
}

// Families returns every registered family, in registration order.
func Families() []*Family {
	familiesMu.Lock()
	defer familiesMu.Unlock()
	return slices.Clone(families)
}
