package winrmsim_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/masterzen/winrm"
	"github.com/rmmhq/rmm/engine/winrmsim"
)

// A fleet of simulated Windows hosts next to the real WinRM client, the
// way httptest puts a server next to an HTTP client. The hosts serve
// plain HTTP, so they must allow unencrypted Basic, as
// `winrm set winrm/config/service @{AllowUnencrypted="true"}` does.
func Example() {
	fleet, err := winrmsim.New(winrmsim.Config{Devices: 3, Seed: 1, AllowUnencrypted: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := fleet.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer fleet.Close()

	h := fleet.Hosts()[0]
	endpoint := winrm.NewEndpoint(h.IP, h.Port, false, false, nil, nil, nil, 0)
	client, err := winrm.NewClient(endpoint, winrmsim.DefaultUser, winrmsim.DefaultPassword)
	if err != nil {
		log.Fatal(err)
	}
	stdout, _, code, err := client.RunCmdWithContext(context.Background(), "hostname")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimSpace(stdout), code)
	// Output: WS-0001 0
}
