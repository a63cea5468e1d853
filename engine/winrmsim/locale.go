package winrmsim

import (
	"fmt"
	"time"
)

// What a host prints in its display language: rmm's scripts must not
// depend on it (the de-de profile is German; every other host English).

// quserLines is what `quser` prints on the host: a header and one line
// per session, in the display language; none (and "No User exists for
// *" on stderr, exit 1) when nobody is logged on. A connected session
// has a SESSIONNAME (console, rdp-tcp#N); a disconnected one, which is
// what locking it leaves, has none. h.hs().mu must be held.
func (h *host) quserLines(st *hostState) []string {
	if st.sessions == 0 {
		return nil
	}
	german := h.hp.german
	head := " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME"
	if german {
		head = " BENUTZERNAME          SITZUNGSNAME       ID  STATUS  LEERLAUF   ANMELDEZEIT"
	}
	lines := []string{head}
	logon := time.Now().Add(-time.Duration(1+h.seed%9) * time.Hour)
	for i := range st.sessions {
		user := fmt.Sprintf("user%04d", h.index+1+i)
		session, id := "console", 1
		if i > 0 {
			session, id = fmt.Sprintf("rdp-tcp#%d", i), i+1
		}
		state, idle := "Active", "none"
		if german {
			state, idle = "Aktiv", "."
		}
		if st.locked {
			session = ""
			state, idle = "Disc", "1:02"
			if german {
				state = "Getr."
			}
		}
		when := logon.Format("1/2/2006 3:04 PM")
		if german {
			when = logon.Format("02.01.2006 15:04")
		}
		lines = append(lines, fmt.Sprintf(" %-22s%-18s%3d  %-7s%10s  %s", user, session, id, state, idle, when))
	}
	return lines
}

// noUserText is quser's stderr when nobody is logged on.
func (h *host) noUserText() string {
	if h.hp.german {
		return "Kein Benutzer vorhanden für *"
	}
	return "No User exists for *"
}

// gpupdateLines is what `gpupdate /force` prints, and the line it writes
// on stderr, before asking to log off, on the hosts (by seed) that have
// policies only a logon applies ("" elsewhere).
func (h *host) gpupdateLines() (lines []string, warn string) {
	if h.hp.german {
		lines = []string{"Die Richtlinie wird aktualisiert...",
			"Die Aktualisierung der Computerrichtlinie wurde erfolgreich abgeschlossen.",
			"Die Aktualisierung der Benutzerrichtlinie wurde erfolgreich abgeschlossen."}
	} else {
		lines = []string{"Updating policy...",
			"Computer Policy update has completed successfully.",
			"User Policy update has completed successfully."}
	}
	if h.seed>>44%10 == 0 {
		warn = "Certain User policies are enabled that can only run during logon."
		if h.hp.german {
			warn = "Bestimmte Benutzerrichtlinien sind aktiviert, die nur während der Anmeldung ausgeführt werden können."
		}
	}
	return lines, warn
}
