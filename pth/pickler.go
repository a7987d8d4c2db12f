package pth

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Pickle opcodes used by the writer.
const (
	opMark       = '('
	opStop       = '.'
	opReduce     = 'R'
	opBuild      = 'b'
	opTuple      = 't'
	opTuple1     = 0x85
	opTuple2     = 0x86
	opTuple3     = 0x87
	opEmptyTuple = ')'
	opEmptyDict  = '}'
	opSetItem    = 's'
	opSetItems   = 'u'
	opBinPersID  = 'Q'
	opNewFalse   = 0x89
	opNewTrue    = 0x88
	opNone       = 'N'
	opEmptyList  = ']'
	opAppend     = 'a'
	opAppends    = 'e'
	opBinPut     = 'q'
	opLongBinPut = 'r'
	opBinGet     = 'h'
	opLongBinGet = 'j'
)

// batchSize is CPython's pickler's BATCHSIZE: dict items are written in
// runs of at most this many between MARK and SETITEMS.
const batchSize = 1000

// pickler emits protocol-2 pickle opcodes. Its plain methods (global,
// unicode) write what they are given; the memo methods (put, memoGlobal,
// memoString) do what CPython's pickler does for an object it has seen
// before: every str, non-empty tuple, global and reduced object gets the
// next memo slot (BINPUT) the first time, and is fetched (BINGET) after.
type pickler struct {
	b       []byte
	memoLen int            // memo slots used
	memo    map[string]int // memo slot of each memoized global or shared string
}

func (p *pickler) op(ops ...byte) { p.b = append(p.b, ops...) }

func (p *pickler) proto(v byte) { p.b = append(p.b, 0x80, v) }

// global emits GLOBAL module\nname\n.
func (p *pickler) global(module, name string) {
	p.b = append(p.b, 'c')
	p.b = append(p.b, module...)
	p.b = append(p.b, '\n')
	p.b = append(p.b, name...)
	p.b = append(p.b, '\n')
}

// unicode emits BINUNICODE.
func (p *pickler) unicode(s string) {
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}

// int emits what CPython's pickler emits for an int at protocol 2: BININT1,
// BININT2 or BININT when it fits in a signed 32-bit integer, else LONG1
// with the shortest little-endian two's complement.
func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.b = append(p.b, 'K', byte(v))
	case v >= 0 && v < 1<<16:
		p.b = append(p.b, 'M')
		p.b = binary.LittleEndian.AppendUint16(p.b, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.b = append(p.b, 'J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(v))
	default:
		// Python: nbytes = bit_length(|v|)/8 + 1, less one byte when a
		// negative value's top byte is pure sign extension.
		u := uint64(v)
		if v < 0 {
			u = uint64(-v) // -MinInt64 wraps to 1<<63, its magnitude
		}
		n := bits.Len64(u)/8 + 1
		if v < 0 && n > 1 && byte(v>>(8*(n-1))) == 0xff && byte(v>>(8*(n-2)))&0x80 != 0 {
			n--
		}
		n = min(n, 8)
		p.b = append(p.b, 0x8a, byte(n))
		for i := 0; i < n; i++ {
			p.b = append(p.b, byte(v>>(8*i)))
		}
	}
}

// put memoizes the object just built: BINPUT i, or LONG_BINPUT i from slot 256.
func (p *pickler) put() int {
	i := p.memoLen
	p.memoLen++
	if i < 256 {
		p.b = append(p.b, opBinPut, byte(i))
	} else {
		p.b = append(p.b, opLongBinPut)
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(i))
	}
	return i
}

// get fetches memo slot i: BINGET i, or LONG_BINGET i.
func (p *pickler) get(i int) {
	if i < 256 {
		p.b = append(p.b, opBinGet, byte(i))
	} else {
		p.b = append(p.b, opLongBinGet)
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(i))
	}
}

// memoGlobal emits a global the first time, and fetches it from the memo
// after: a class or function is one object.
func (p *pickler) memoGlobal(module, name string) {
	p.shared("c"+module+"\n"+name, func() { p.global(module, name) })
}

// memoString emits a string that is one object wherever the pickled
// objects use it ('storage', 'cpu', 'version': literals in torch's
// code, interned by Python), fetching it after the first time.
func (p *pickler) memoString(s string) {
	p.shared("X"+s, func() { p.unicode(s) })
}

// freshString emits a string that is a new object (a state dict key, say):
// written and memoized, never fetched.
func (p *pickler) freshString(s string) {
	p.unicode(s)
	p.put()
}

func (p *pickler) shared(id string, emit func()) {
	if i, ok := p.memo[id]; ok {
		p.get(i)
		return
	}
	if p.memo == nil {
		p.memo = map[string]int{}
	}
	emit()
	p.memo[id] = p.put()
}

// intTuple emits a new tuple of ints as CPython does: EMPTY_TUPLE (not
// memoized), TUPLE1..TUPLE3, or MARK … TUPLE, then BINPUT.
func (p *pickler) intTuple(v []int64) {
	if len(v) == 0 {
		p.op(opEmptyTuple)
		return
	}
	if len(v) > 3 {
		p.op(opMark)
	}
	for _, x := range v {
		p.int(x)
	}
	switch len(v) {
	case 1:
		p.op(opTuple1)
	case 2:
		p.op(opTuple2)
	case 3:
		p.op(opTuple3)
	default:
		p.op(opTuple)
	}
	p.put()
}

// items emits n dict items as CPython's pickler does: runs of up to
// batchSize items between MARK and SETITEMS, a lone last item with
// SETITEM. item(i) emits the key and value of item i.
func (p *pickler) items(n int, item func(i int)) {
	for start := 0; start < n; start += batchSize {
		end := min(start+batchSize, n)
		if end-start == 1 {
			item(start)
			p.op(opSetItem)
			return
		}
		p.op(opMark)
		for i := start; i < end; i++ {
			item(i)
		}
		p.op(opSetItems)
	}
}
