package mtasts_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"

	"github.com/strictmx/strictmx/mtasts"
	"github.com/strictmx/strictmx/mtasts/mtaststest"
)

// The delivery plan for a domain with an enforce policy and three MX
// hosts, one of them outside the policy.
func ExampleResult_Plan() {
	s := mtaststest.NewServer(nil)
	defer s.Close()
	s.Domain("example.test").Record("1").Policy(mtasts.ModeEnforce, 86400, "*.mx.example.test")

	ctx := context.Background()
	res, err := s.Client().Lookup(ctx, "example.test")
	if err != nil {
		fmt.Println(err)
		return
	}
	mx := []*net.MX{{Host: "a.mx.example.test.", Pref: 10}, {Host: "backup.example.net.", Pref: 20}, {Host: "b.mx.example.test.", Pref: 30}}
	plan := res.Plan(mx, mtasts.PlanOptions{})
	for _, h := range plan.Hosts {
		fmt.Printf("%s try=%v tls=%v verify=%v\n", h.Host, h.Try, h.RequireTLS, h.Verify)
		if h.Reason != "" {
			fmt.Println("  ", h.Reason)
		}
	}
	// Output:
	// a.mx.example.test try=true tls=true verify=true
	// backup.example.net try=false tls=false verify=false
	//    MX host matches no mx pattern of the enforce policy
	// b.mx.example.test try=true tls=true verify=true
}

// STARTTLS with the verifier of a host plan, against an MX host whose
// certificate has expired: under enforce the handshake fails and the host
// is skipped, with the TLS-RPT result type to report.
func ExampleHostPlan_TLSConfig() {
	s := mtaststest.NewServer(nil)
	defer s.Close()
	s.Domain("example.test").Record("1").
		Policy(mtasts.ModeEnforce, 86400, "mx1.example.test").
		MXHost(10, "mx1.example.test", mtaststest.MXConfig{Certificate: mtaststest.CertExpired})

	ctx := context.Background()
	res, _ := s.Client().Lookup(ctx, "example.test")
	plan := res.Plan([]*net.MX{{Host: "mx1.example.test", Pref: 10}}, mtasts.PlanOptions{})
	h := &plan.Hosts[0]

	conn, err := s.DialContext(ctx, "tcp", "mx1.example.test:25")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := smtp.NewClient(conn, h.Host)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Hello("sender.example")
	d := h.Done(c.StartTLS(h.TLSConfig(&tls.Config{RootCAs: s.RootCAs()})))
	fmt.Println("deliver:", d.Deliver)
	fmt.Println("report:", d.ResultType)

	// Every host failed: re-check the policy id, then defer the message.
	_, err = s.Client().Replan(ctx, plan)
	var derr *mtasts.NoAcceptableMXError
	fmt.Println(errors.As(err, &derr), derr.Temporary(), errors.Is(err, mtasts.ErrNoAcceptableMX))
	// Output:
	// deliver: false
	// report: certificate-expired
	// true true true
}
