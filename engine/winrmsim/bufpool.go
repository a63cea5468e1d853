package winrmsim

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// buffers recycles the byte buffers of request bodies, replies and XML
// scanners: a sweep of 10,000 hosts would otherwise allocate (and the
// garbage collector collect) several per request, and the simulator
// shares the console's process in tests and benchmarks.
type buffers struct {
	bodies   sync.Pool // *[]byte
	replies  sync.Pool // *bytes.Buffer
	scanners sync.Pool // *scanner
	readers  sync.Pool // *bufio.Reader of connections
	writers  sync.Pool // *bufio.Writer of connections
}

// conn returns a connection's reader (over r) and writer (over w).
func (bp *buffers) conn(r io.Reader, w io.Writer) (*bufio.Reader, *bufio.Writer) {
	br, ok := bp.readers.Get().(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(nil, 4<<10)
	}
	br.Reset(r)
	bw, ok := bp.writers.Get().(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(nil, 4<<10)
	}
	bw.Reset(w)
	return br, bw
}

func (bp *buffers) putConn(br *bufio.Reader, bw *bufio.Writer) {
	br.Reset(nil)
	bp.readers.Put(br)
	bw.Reset(nil)
	bp.writers.Put(bw)
}

// maxPooled is the largest buffer kept for reuse; bigger ones are left to
// the garbage collector.
const maxPooled = 64 << 10

// body returns a pooled buffer of length n.
func (bp *buffers) body(n int) *[]byte {
	if p, ok := bp.bodies.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	} else if ok {
		bp.bodies.Put(p)
	}
	b := make([]byte, n, max(n, 8<<10))
	return &b
}

func (bp *buffers) putBody(p *[]byte) {
	if p != nil && cap(*p) <= maxPooled {
		bp.bodies.Put(p)
	}
}

func (bp *buffers) reply() *bytes.Buffer {
	if b, ok := bp.replies.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	b := new(bytes.Buffer)
	b.Grow(8 << 10)
	return b
}

func (bp *buffers) putReply(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		bp.replies.Put(b)
	}
}

// scan parses an envelope with a pooled scanner.
func (bp *buffers) scan(body []byte) (*request, error) {
	s, ok := bp.scanners.Get().(*scanner)
	if !ok {
		s = new(scanner)
	}
	req, err := s.scan(body)
	if cap(s.text) <= maxPooled {
		s.b = nil
		bp.scanners.Put(s)
	}
	return req, err
}
