package winrmsim

// HostStats counts what one host has seen since New.
type HostStats struct {
	Requests      int64 // HTTP requests that reached the host, including refused ones
	Connections   int64 // TCP connections the host accepted
	ShellsCreated int64
	ShellsOpen    int64 // shells that exist now
	ShellsDeleted int64 // shells removed by a Delete request
	ShellsDropped int64 // shells removed by idle timeout or Reboot
	Commands      int64
	Faults        int64 // SOAP faults returned, timeouts included
	AuthFailures  int64 // requests answered 401

	// Requests by WS-Management action (Commands above counts the
	// commands that started; this counts Command requests).
	Creates, CommandRequests, Sends, Receives, Signals, Deletes int64
	Enumerates                                                  int64 // Enumerate and Pull requests

	LoopStarts   int64 // resident PowerShell loops started
	LoopRequests int64 // requests the resident loops answered
	LoopExits    int64 // loops that ended cleanly (EXIT or end of input)
	Injected     int64 // requests spoiled by a host fault (SetFault, Config.Faults)

	// Negotiate and Kerberos: security contexts established (one per
	// authenticated connection), requests that came sealed (message
	// encryption), and readable requests refused on such a connection
	// over HTTP.
	NTLMContexts, KerberosContexts, Sealed, PlainRefused int64

	// TLS handshakes the host completed: full ones, and resumptions of a
	// session it had issued (tls.go).
	TLSFullHandshakes, TLSResumed int64
}

// Stats is the fleet's totals: the same counters summed over every host,
// plus how many hosts are online.
type Stats struct {
	Hosts         int
	Online        int
	Requests      int64
	Connections   int64
	ShellsCreated int64
	ShellsOpen    int64
	ShellsDeleted int64
	ShellsDropped int64
	Commands      int64
	Faults        int64
	AuthFailures  int64

	Creates, CommandRequests, Sends, Receives, Signals, Deletes int64
	Enumerates                                                  int64

	LoopStarts   int64
	LoopRequests int64
	LoopExits    int64
	Injected     int64

	NTLMContexts, KerberosContexts, Sealed, PlainRefused int64

	TLSFullHandshakes, TLSResumed int64
}

// HostStats returns one host's counters.
func (f *Fleet) HostStats(hostname string) (HostStats, bool) {
	h, ok := f.byName[hostname]
	if !ok {
		return HostStats{}, false
	}
	return h.stats.snapshot(), true
}

// Stats returns the fleet's totals.
func (f *Fleet) Stats() Stats {
	s := Stats{Hosts: len(f.hosts)}
	for _, h := range f.hosts {
		h.mu.Lock()
		if h.online {
			s.Online++
		}
		h.mu.Unlock()
		hs := h.stats.snapshot()
		s.Requests += hs.Requests
		s.Connections += hs.Connections
		s.ShellsCreated += hs.ShellsCreated
		s.ShellsOpen += hs.ShellsOpen
		s.ShellsDeleted += hs.ShellsDeleted
		s.ShellsDropped += hs.ShellsDropped
		s.Commands += hs.Commands
		s.Faults += hs.Faults
		s.AuthFailures += hs.AuthFailures
		s.Creates += hs.Creates
		s.CommandRequests += hs.CommandRequests
		s.Sends += hs.Sends
		s.Receives += hs.Receives
		s.Signals += hs.Signals
		s.Deletes += hs.Deletes
		s.Enumerates += hs.Enumerates
		s.LoopStarts += hs.LoopStarts
		s.LoopRequests += hs.LoopRequests
		s.LoopExits += hs.LoopExits
		s.Injected += hs.Injected
		s.NTLMContexts += hs.NTLMContexts
		s.KerberosContexts += hs.KerberosContexts
		s.Sealed += hs.Sealed
		s.PlainRefused += hs.PlainRefused
		s.TLSFullHandshakes += hs.TLSFullHandshakes
		s.TLSResumed += hs.TLSResumed
	}
	return s
}

func (c *counters) snapshot() HostStats {
	return HostStats{
		Requests:          c.requests.Load(),
		Connections:       c.connections.Load(),
		ShellsCreated:     c.shellsCreated.Load(),
		ShellsOpen:        c.shellsOpen.Load(),
		ShellsDeleted:     c.shellsDeleted.Load(),
		ShellsDropped:     c.shellsDropped.Load(),
		Commands:          c.commands.Load(),
		Faults:            c.faults.Load(),
		AuthFailures:      c.authFailures.Load(),
		Creates:           c.creates.Load(),
		CommandRequests:   c.commandRequests.Load(),
		Sends:             c.sends.Load(),
		Receives:          c.receives.Load(),
		Signals:           c.signals.Load(),
		Deletes:           c.deletes.Load(),
		Enumerates:        c.enumerates.Load(),
		LoopStarts:        c.loopStarts.Load(),
		LoopRequests:      c.loopRequests.Load(),
		LoopExits:         c.loopExits.Load(),
		Injected:          c.injected.Load(),
		NTLMContexts:      c.ntlmContexts.Load(),
		KerberosContexts:  c.krbContexts.Load(),
		Sealed:            c.sealed.Load(),
		PlainRefused:      c.plainRefused.Load(),
		TLSFullHandshakes: c.tlsFull.Load(),
		TLSResumed:        c.tlsResumed.Load(),
	}
}
